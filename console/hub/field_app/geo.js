// Datum conversions for navigation deep links, ported from console/core/geo.py.
// Positions are kept in WGS84 everywhere; Amap wants GCJ-02 and Baidu wants BD-09,
// so the conversion happens only when a link is built.

const KRASOVSKY_A = 6378245.0;
const KRASOVSKY_EE = 0.00669342162296594323;
const CHINA_LON = [72.004, 137.8347];
const CHINA_LAT = [0.8293, 55.8271];
const BD_X_PI = (Math.PI * 3000.0) / 180.0;

export function inChinaBox(lon, lat) {
  return lon >= CHINA_LON[0] && lon <= CHINA_LON[1] && lat >= CHINA_LAT[0] && lat <= CHINA_LAT[1];
}

function gcjOffset(x, y) {
  if (!inChinaBox(x, y)) return [0, 0];
  const dx = x - 105.0;
  const dy = y - 35.0;
  const absDx = Math.sqrt(Math.abs(dx));
  const sixPiX = Math.sin(6.0 * Math.PI * dx);
  const twoPiX = Math.sin(2.0 * Math.PI * dx);
  let dLat = -100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * absDx;
  dLat += ((20.0 * sixPiX + 20.0 * twoPiX) * 2.0) / 3.0;
  dLat += ((20.0 * Math.sin(dy * Math.PI) + 40.0 * Math.sin((dy / 3.0) * Math.PI)) * 2.0) / 3.0;
  dLat += ((160.0 * Math.sin((dy / 12.0) * Math.PI) + 320.0 * Math.sin((dy * Math.PI) / 30.0)) * 2.0) / 3.0;
  let dLon = 300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * absDx;
  dLon += ((20.0 * sixPiX + 20.0 * twoPiX) * 2.0) / 3.0;
  dLon += ((20.0 * Math.sin(dx * Math.PI) + 40.0 * Math.sin((dx / 3.0) * Math.PI)) * 2.0) / 3.0;
  dLon += ((150.0 * Math.sin((dx / 12.0) * Math.PI) + 300.0 * Math.sin((dx / 30.0) * Math.PI)) * 2.0) / 3.0;
  const radLat = (y / 180.0) * Math.PI;
  const magic = 1.0 - KRASOVSKY_EE * Math.sin(radLat) ** 2;
  const sqrtMagic = Math.sqrt(magic);
  dLat = (dLat * 180.0) / (((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrtMagic)) * Math.PI);
  dLon = (dLon * 180.0) / ((KRASOVSKY_A / sqrtMagic) * Math.cos(radLat) * Math.PI);
  return [dLon, dLat];
}

/** WGS84 -> GCJ-02 (identity outside China's bounding box). Returns [lon, lat]. */
export function wgs84ToGcj02(lon, lat) {
  const [dLon, dLat] = gcjOffset(lon, lat);
  return [lon + dLon, lat + dLat];
}

/** GCJ-02 -> BD-09 (Baidu applies it everywhere). Returns [lon, lat]. */
export function gcj02ToBd09(lon, lat) {
  const z = Math.sqrt(lon * lon + lat * lat) + 0.00002 * Math.sin(lat * BD_X_PI);
  const theta = Math.atan2(lat, lon) + 0.000003 * Math.cos(lon * BD_X_PI);
  return [z * Math.cos(theta) + 0.0065, z * Math.sin(theta) + 0.006];
}

/** WGS84 -> BD-09 through GCJ-02. Returns [lon, lat]. */
export function wgs84ToBd09(lon, lat) {
  const [gLon, gLat] = wgs84ToGcj02(lon, lat);
  return gcj02ToBd09(gLon, gLat);
}

/** Great-circle distance in metres, for the on-screen hint only (the hub decides check-ins). */
export function distanceM(lon1, lat1, lon2, lat2) {
  const r = 6371008.8;
  const toRad = Math.PI / 180;
  const dLat = (lat2 - lat1) * toRad;
  const dLon = (lon2 - lon1) * toRad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * toRad) * Math.cos(lat2 * toRad) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.min(1, Math.sqrt(a)));
}

const fixed = (value) => value.toFixed(6);

/** Amap web/app marker link; the position must be GCJ-02 ("gaode" coordinates). */
export function amapUrl(lon, lat, name) {
  const [gLon, gLat] = wgs84ToGcj02(lon, lat);
  const query = new URLSearchParams({
    position: `${fixed(gLon)},${fixed(gLat)}`,
    name,
    src: "enforcement-field",
    coordinate: "gaode",
    callnative: "1",
  });
  return `https://uri.amap.com/marker?${query}`;
}

/** Baidu Maps app marker link with a BD-09 position. */
export function baiduUrl(lon, lat, name) {
  const [bLon, bLat] = wgs84ToBd09(lon, lat);
  const query = new URLSearchParams({
    location: `${fixed(bLat)},${fixed(bLon)}`,
    title: name,
    content: name,
    coord_type: "bd09ll",
    src: "enforcement-field",
  });
  return `baidumap://map/marker?${query}`;
}
