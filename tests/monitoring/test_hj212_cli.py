"""``python -m console hj212`` through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.monitoring.hj212_helpers import STANDARD_EXAMPLE, handmade


def _run(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "console", "hj212", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_decode_mixed_lines_exits_zero() -> None:
    water = handmade(
        "QN=20160801085857223;ST=32;CN=2011;PW=123456;MN=AB12;Flag=5;"
        "CP=&&DataTime=20160801085857;w01018-Rtd=231.0,w01018-Flag=N&&"
    )
    lines = [
        STANDARD_EXAMPLE.encode() + b"\r\n",  # with \r
        water.rstrip(b"\r\n") + b"\n",  # without \r
        b"not a packet\n",
        STANDARD_EXAMPLE[:-1].encode() + b"1\n",  # wrong CRC
        b"\n",  # blank lines are skipped
        handmade("ST=32;CN=2011;PW=1;MN=88888880000001;CP=&&011-Rtd=x&&"),
    ]
    result = _run(["decode"], b"".join(lines))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r["ok"] for r in rows] == [True, True, False, False, False]
    assert [r["error"] for r in rows] == [None, None, "frame", "crc", "field"]
    assert rows[0]["params"] == {"RtdInterval": 30}
    assert rows[0]["version"] == "2017"
    assert rows[0]["flag"] == 5
    assert rows[1]["values"] == {"w01018": {"Rtd": 231.0, "Flag": "N"}}
    assert rows[1]["data_time"] == "20160801085857"
    assert rows[4]["detail"] == "011-Rtd='x' is not a number"
    assert set(rows[2]) == set(rows[0])


def test_encode_then_decode() -> None:
    request = {
        "qn": "20160801085857223",
        "cn": "2061",
        "mn": "AB12",
        "flag": 5,
        "data_time": "20160801080000",
        "values": {"a21026": {"Avg": 12.5, "ZsAvg": 15.0, "Flag": "N"}},
    }
    encoded = _run(["encode"], (json.dumps(request) + "\n").encode())
    assert encoded.returncode == 0, encoded.stderr
    decoded = _run(["decode"], encoded.stdout)
    row = json.loads(decoded.stdout)
    assert row["ok"]
    assert row["values"] == request["values"]
    bad = _run(["encode"], b'{"cn": "2011"}\n')
    assert bad.returncode == 1
    assert b"'cn' and 'mn' are required" in bad.stderr
