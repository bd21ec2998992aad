"""Measure: locating points in the demo city, our Locator vs the same question to PostGIS.

(a) ``--points`` random points (default 1,000,000), sampled in the city's bounding box and
    kept if inside the city boundary, -> district + grid + grid officer + nearest squad with
    ``Locator.locate_batch``; best and median of ``--repeats`` runs.
(b) single-point ``Locator.locate`` latency (p50/p99 over 10,000 points).
(c) the same assignment as one PostGIS query on ``--pg-points`` of those points (default
    100,000) in a throwaway PostgreSQL+PostGIS: grids joined with ST_Contains (GiST index,
    lon/lat), nearest squad with KNN ``<->`` on geometry projected to the same Gauss-Krüger
    zone. The PostGIS answers are compared with the Locator's.

Run: ``.venv/bin/python bench/locate.py [--points N] [--pg-points N] [--repeats N]``.
Prints one JSON line per measurement and a final ``locate: N points/s`` line. If PostGIS
cannot run, (c) prints why instead of a rate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import shapely

from console.core.locate import OUTSIDE, BatchLocation, Locator
from console.core.model import World
from console.store.demo_world import build_demo_world
from console.store.throwaway_pg import PostgresStartError, ThrowawayPostgres

CITY_ADCODE = "331000"
SINGLE_POINTS = 10_000


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


def sample_city_points(
    world: World, n: int, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``n`` uniform points inside the union of the city's districts (rejection sampling)."""
    city = shapely.union_all([d.boundary for d in world.districts])
    shapely.prepare(city)
    x0, y0, x1, y1 = city.bounds
    rng = np.random.default_rng(seed)
    lons: list[npt.NDArray[np.float64]] = []
    lats: list[npt.NDArray[np.float64]] = []
    kept = 0
    while kept < n:
        lon, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
        inside = shapely.contains_xy(city, lon, lat)
        lons.append(lon[inside])
        lats.append(lat[inside])
        kept += int(inside.sum())
    return np.concatenate(lons)[:n], np.concatenate(lats)[:n]


def bench_batch(
    locator: Locator, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], repeats: int
) -> tuple[float, BatchLocation]:
    times, cpu_times = [], []
    result = locator.locate_batch(lon[:1000], lat[:1000])  # warm-up
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = locator.locate_batch(lon, lat)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - started_cpu)
    best, median = min(times), statistics.median(times)
    emit(
        {
            "measure": "locator_batch",
            "points": len(lon),
            "inside_grids": int(result.inside.sum()),
            "best_s": round(best, 3),
            "median_s": round(median, 3),
            "cpu_s_all_threads": [round(t, 3) for t in cpu_times],
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "points_per_s_best": round(len(lon) / best),
            "points_per_s_median": round(len(lon) / median),
        }
    )
    return len(lon) / best, result


def bench_single(
    locator: Locator, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> None:
    n = min(SINGLE_POINTS, len(lon))
    # Wall time is what a caller waits; thread CPU time shows how much of a wall-time tail
    # is the machine's other load (preemption) rather than the locator.
    wall, cpu = np.empty(n), np.empty(n)
    for i in range(n):
        started, started_cpu = time.perf_counter(), time.thread_time()
        locator.locate(float(lon[i]), float(lat[i]))
        wall[i] = time.perf_counter() - started
        cpu[i] = time.thread_time() - started_cpu
    p50, p99 = np.percentile(wall, [50, 99]) * 1000.0
    cpu50, cpu99 = np.percentile(cpu, [50, 99]) * 1000.0
    emit(
        {
            "measure": "locator_single",
            "points": n,
            "p50_ms": round(float(p50), 4),
            "p99_ms": round(float(p99), 4),
            "cpu_p50_ms": round(float(cpu50), 4),
            "cpu_p99_ms": round(float(cpu99), 4),
        }
    )


def _copy_rows(cursor: psycopg.Cursor[Any], sql: str, rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def bench_postgis(
    world: World,
    locator: Locator,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    expected: BatchLocation,
) -> float | None:
    """Rate of the same assignment in PostGIS; None (after printing why) if it cannot run."""
    epsg = locator.projector.epsg
    district_of = {d.adcode: i for i, d in enumerate(world.districts)}
    officer_of = {o.id: i for i, o in enumerate(world.officers)}
    server = ThrowawayPostgres(database="bench_locate")
    try:
        server.start()
    except (PostgresStartError, OSError) as exc:
        emit({"measure": "postgis", "error": f"PostGIS could not start: {exc}"})
        return None
    try:
        conninfo = server.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
            started = time.perf_counter()
            cur.execute(
                f"""
                CREATE TABLE grids (idx int PRIMARY KEY, district int, officer int,
                                    geom geometry(Geometry, 4490));
                CREATE TABLE squads (idx int PRIMARY KEY, geom geometry(Point, 4490),
                                     geom_xy geometry(Point, {epsg}));
                CREATE TABLE points (id int PRIMARY KEY, geom geometry(Point, 4490));
                """
            )
            _copy_rows(
                cur,
                "COPY grids (idx, district, officer, geom) FROM STDIN",
                [
                    (
                        i,
                        district_of[g.district_adcode],
                        OUTSIDE if g.officer_id is None else officer_of[g.officer_id],
                        "SRID=4490;" + shapely.to_wkt(g.geometry, rounding_precision=-1),
                    )
                    for i, g in enumerate(world.grids)
                ],
            )
            _copy_rows(
                cur,
                "COPY squads (idx, geom) FROM STDIN",
                [(i, f"SRID=4490;POINT({s.lon!r} {s.lat!r})") for i, s in enumerate(world.squads)],
            )
            _copy_rows(
                cur,
                "COPY points (id, geom) FROM STDIN",
                [
                    (i, f"SRID=4490;POINT({x!r} {y!r})")
                    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True))
                ],
            )
            cur.execute(
                f"""
                UPDATE squads SET geom_xy = ST_Transform(geom, {epsg});
                CREATE INDEX ON grids USING gist (geom);
                CREATE INDEX ON squads USING gist (geom_xy);
                ANALYZE grids; ANALYZE squads; ANALYZE points;
                """
            )
            conn.commit()
            emit(
                {
                    "measure": "postgis_load",
                    "grids": len(world.grids),
                    "squads": len(world.squads),
                    "points": len(lon),
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
            query = f"""
                SELECT p.id, g.district, g.idx, g.officer, s.idx, ST_Distance(xy.geom, s.geom_xy)
                FROM points p
                CROSS JOIN LATERAL (SELECT ST_Transform(p.geom, {epsg}) AS geom) xy
                LEFT JOIN LATERAL (
                    SELECT idx, district, officer FROM grids
                    WHERE ST_Contains(grids.geom, p.geom) ORDER BY idx LIMIT 1
                ) g ON true
                LEFT JOIN LATERAL (
                    SELECT idx, geom_xy FROM squads ORDER BY squads.geom_xy <-> xy.geom LIMIT 1
                ) s ON g.idx IS NOT NULL
                ORDER BY p.id
            """
            started = time.perf_counter()
            cur.execute(query)
            rows = cur.fetchall()
            elapsed = time.perf_counter() - started
    finally:
        server.stop()

    district = np.array([OUTSIDE if r[1] is None else r[1] for r in rows])
    grid = np.array([OUTSIDE if r[2] is None else r[2] for r in rows])
    officer = np.array([OUTSIDE if r[3] is None else r[3] for r in rows])
    squad = np.array([OUTSIDE if r[4] is None else r[4] for r in rows])
    distance = np.array([np.nan if r[5] is None else r[5] for r in rows], dtype=np.float64)
    both = (grid != OUTSIDE) & expected.inside
    emit(
        {
            "measure": "postgis_query",
            "points": len(rows),
            "seconds": round(elapsed, 3),
            "points_per_s": round(len(rows) / elapsed),
            "grid_agreement": round(float(np.mean(grid == expected.grid)), 6),
            "district_agreement": round(float(np.mean(district == expected.district)), 6),
            "officer_agreement": round(float(np.mean(officer == expected.officer)), 6),
            "squad_agreement": round(float(np.mean(squad[both] == expected.squad[both])), 6),
            "max_distance_diff_m": round(
                float(np.max(np.abs(distance[both] - expected.squad_distance_m[both]), initial=0)),
                4,
            ),
        }
    )
    return len(rows) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--pg-points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    world = build_demo_world(CITY_ADCODE, seed=0)
    built = time.perf_counter()
    locator = Locator(world)
    emit(
        {
            "measure": "setup",
            "world": world.summary(),
            "world_build_s": round(built - started, 2),
            "locator_build_s": round(time.perf_counter() - built, 2),
            "projection": f"EPSG:{locator.projector.epsg}",
        }
    )
    lon, lat = sample_city_points(world, args.points, args.seed)
    rate, result = bench_batch(locator, lon, lat, args.repeats)
    bench_single(locator, lon, lat)

    n_pg = min(args.pg_points, len(lon))
    expected = BatchLocation(
        result.district[:n_pg],
        result.grid[:n_pg],
        result.officer[:n_pg],
        result.squad[:n_pg],
        result.squad_distance_m[:n_pg],
    )
    pg_rate = bench_postgis(world, locator, lon[:n_pg], lat[:n_pg], expected)
    if pg_rate is not None:
        emit(
            {
                "measure": "comparison",
                "locator_points_per_s": round(rate),
                "postgis_points_per_s": round(pg_rate),
                "ratio": round(rate / pg_rate, 1),
            }
        )
    print(f"locate: {round(rate)} points/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
