/*
 * Console map: the layers of the dispatcher's map and the JS side of MapBridge.
 *
 * Python never rebuilds this page; it sends batches of operations through
 * consoleMap.applyBatch(ops, seq) (one call per frame at most) and hears back through the
 * QWebChannel object "bridge". Every coordinate arriving from Python is WGS84/CGCS2000;
 * when the basemap is in GCJ-02 (Amap-style tiles) overlays are shifted into it for display
 * (toDisplay) and clicked points are shifted back (fromDisplay) before they go to Python.
 * Officers (up to tens of thousands, moving every second) are one canvas drawn from typed
 * arrays: per-marker Leaflet objects cost ~40 µs each per update, this costs ~1 µs. Their
 * moves arrive packed (typed columns in base64, ids replaced by slots: see unpack below and
 * console/map/packing.py), which the page views without parsing 10,000 JSON rows.
 */
(function () {
  "use strict";

  var ENTERPRISE_COLOURS = { normal: "#2e7d32", alarm: "#d32f2f", offline: "#757575", inspecting: "#1565c0" };
  var INDUSTRY_GLYPHS = {
    dyeing: "染", electroplating: "镀", pharma_chemical: "化", plastic_pellets: "塑",
    boiler_power: "电", wastewater_plant: "污"
  };
  // The same numbers as layers.DUTY_WIRE_CODES (packed moves carry the number; 255 keeps it).
  var DUTY_CODES = { on_duty: 0, off_duty: 1, on_leave: 2 }, DUTY_KEEP = 255;
  var DUTY_COLOURS = ["#1565c0", "#8e24aa", "#6d4c41"];
  var STALE_COLOUR = "#9e9e9e";
  var GRID_LABEL_MIN_ZOOM = 13;
  var GRID_LABEL_LIMIT = 400;
  var HIT_RADIUS_PX = 8;
  var LAYER_NAMES = ["districts", "grids", "enterprises", "complaints", "tasks", "officers", "squads", "cameras", "heat", "selection"];

  // ---- GCJ-02: the same formula as console/core/geo.py (tests compare the two) ------------
  var KRASOVSKY_A = 6378245.0, KRASOVSKY_EE = 0.00669342162296594323;

  function inChina(lon, lat) { return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271; }

  function gcjOffset(x, y) {
    if (!inChina(x, y)) { return [0, 0]; }
    var dx = x - 105.0, dy = y - 35.0, absDx = Math.sqrt(Math.abs(dx)), PI = Math.PI;
    var sixPiX = Math.sin(6.0 * PI * dx), twoPiX = Math.sin(2.0 * PI * dx);
    var dLat = -100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * absDx;
    dLat += (20.0 * sixPiX + 20.0 * twoPiX) * 2.0 / 3.0;
    dLat += (20.0 * Math.sin(dy * PI) + 40.0 * Math.sin(dy / 3.0 * PI)) * 2.0 / 3.0;
    dLat += (160.0 * Math.sin(dy / 12.0 * PI) + 320.0 * Math.sin(dy * PI / 30.0)) * 2.0 / 3.0;
    var dLon = 300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * absDx;
    dLon += (20.0 * sixPiX + 20.0 * twoPiX) * 2.0 / 3.0;
    dLon += (20.0 * Math.sin(dx * PI) + 40.0 * Math.sin(dx / 3.0 * PI)) * 2.0 / 3.0;
    dLon += (150.0 * Math.sin(dx / 12.0 * PI) + 300.0 * Math.sin(dx / 30.0 * PI)) * 2.0 / 3.0;
    var radLat = y / 180.0 * PI, magic = 1.0 - KRASOVSKY_EE * Math.sin(radLat) * Math.sin(radLat);
    var sqrtMagic = Math.sqrt(magic);
    dLat = (dLat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrtMagic) * PI);
    dLon = (dLon * 180.0) / (KRASOVSKY_A / sqrtMagic * Math.cos(radLat) * PI);
    return [dLon, dLat];
  }

  function wgsToGcj(lon, lat) { var d = gcjOffset(lon, lat); return [lon + d[0], lat + d[1]]; }

  function gcjToWgs(lon, lat) {
    var x = lon, y = lat;
    for (var i = 0; i < 30; i++) {
      var f = wgsToGcj(x, y), ex = f[0] - lon, ey = f[1] - lat;
      x -= ex; y -= ey;
      if (Math.abs(ex) < 1e-10 && Math.abs(ey) < 1e-10) { break; }
    }
    return [x, y];
  }

  var state = {
    autoFit: false, fitting: false,
    map: null, bridge: null, renderer: null, groups: {}, gridLabels: null, gridLabelsWanted: true,
    datum: "wgs84", basemap: null, labels: {},
    worldOp: null, districtLayers: new Map(), gridLayers: new Map(), gridInfo: new Map(),
    districtValues: null, choroplethLegend: null,
    enterprises: new Map(), squads: new Map(),
    complaints: new Map(), tasks: new Map(), cameras: new Map(), heatPoints: [],
    officerInfo: new Map(), officers: null, selected: null, selection: null, follow: null,
    staleSeconds: 300
  };

  function toDisplay(lon, lat) { return state.datum === "gcj02" ? wgsToGcj(lon, lat) : [lon, lat]; }
  function fromDisplay(lon, lat) { return state.datum === "gcj02" ? gcjToWgs(lon, lat) : [lon, lat]; }
  function displayLatLng(lon, lat) { var d = toDisplay(lon, lat); return L.latLng(d[1], d[0]); }
  function coordsToLatLng(c) { return displayLatLng(c[0], c[1]); }
  function t(key) { return state.labels[key] || key; }

  function send(method) {
    var args = Array.prototype.slice.call(arguments, 1);
    if (state.bridge && typeof state.bridge[method] === "function") {
      state.bridge[method].apply(state.bridge, args);
    }
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function label(lon, lat, text, className) {
    return L.marker(displayLatLng(lon, lat), {
      interactive: false, keyboard: false,
      icon: L.divIcon({ className: "cm-label " + className, html: "<span>" + escapeHtml(text) + "</span>", iconSize: null })
    });
  }

  function onFeatureClick(kind, id) {
    return function (e) { send("js_feature_clicked", kind, String(id)); L.DomEvent.stopPropagation(e); };
  }

  function formatDistance(metres) {
    return metres >= 1000 ? (metres / 1000).toFixed(2) + " km" : Math.round(metres) + " m";
  }

  // ---- officers: one canvas, typed arrays, own hit-testing -------------------------------
  var SPRITE_SIZE = 24, HEADING_STEP = 10, HEADING_STEPS = 36;

  // sprites[colour][0] is a dot without heading; [1 + k] points to k * HEADING_STEP degrees.
  // Drawn once per device pixel ratio, then kept as lists of their non-transparent pixels:
  // copying ~110 pixels per officer into one ImageData is ~3x faster than 10,000 drawImage
  // calls on a software canvas.
  function drawSprite(colour, k, ratio) {
    var size = Math.ceil(SPRITE_SIZE * ratio), c = document.createElement("canvas"), r = 4.5, m = SPRITE_SIZE / 2;
    c.width = c.height = size;
    var g = c.getContext("2d", { willReadFrequently: true });
    g.scale(ratio, ratio);
    g.beginPath();
    g.arc(m, m, r, 0, 2 * Math.PI);
    if (k >= 0) {
      var a = (k * HEADING_STEP - 90) * Math.PI / 180;
      g.moveTo(m + Math.cos(a) * r * 2.2, m + Math.sin(a) * r * 2.2);
      g.lineTo(m + Math.cos(a + 0.6) * r, m + Math.sin(a + 0.6) * r);
      g.lineTo(m + Math.cos(a - 0.6) * r, m + Math.sin(a - 0.6) * r);
      g.closePath();
    }
    g.fillStyle = colour; g.fill();
    g.lineWidth = 1; g.strokeStyle = "#ffffff"; g.stroke();
    var rgba = new Int32Array(g.getImageData(0, 0, size, size).data.buffer), xy = [], colours = [];
    for (var y = 0; y < size; y++) {
      for (var x = 0; x < size; x++) {
        var v = rgba[y * size + x];
        if (v >>> 24) { xy.push((y << 16) | x); colours.push(v); }
      }
    }
    return { size: size, xy: new Int32Array(xy), rgba: new Int32Array(colours), offsets: null, width: 0 };
  }

  var spriteSheet = { ratio: 0, sprites: null };

  function sprites(ratio) {
    if (spriteSheet.ratio !== ratio) {
      spriteSheet.sprites = DUTY_COLOURS.concat([STALE_COLOUR]).map(function (colour) {
        var out = [];
        for (var k = -1; k < HEADING_STEPS; k++) { out.push(drawSprite(colour, k, ratio)); }
        return out;
      });
      spriteSheet.ratio = ratio;
    }
    return spriteSheet.sprites;
  }

  // "Source over" for one unpremultiplied RGBA pixel (ImageData's format, little-endian), for
  // the antialiased rim over another officer; int32 views keep V8 on integer arithmetic.
  function blendPixel(pixels, at, src) {
    var dst = pixels[at];
    if ((src >>> 24) === 255 || dst === 0) { pixels[at] = src; return; }
    var a = (src >>> 24) / 255, k = ((dst >>> 24) / 255) * (1 - a), out = a + k;
    var red = ((src & 255) * a + (dst & 255) * k) / out;
    var green = (((src >>> 8) & 255) * a + ((dst >>> 8) & 255) * k) / out;
    var blue = (((src >>> 16) & 255) * a + ((dst >>> 16) & 255) * k) / out;
    pixels[at] = ((out * 255 + 0.5) << 24) | ((blue + 0.5) << 16) | ((green + 0.5) << 8) | (red + 0.5);
  }

  function blitSprite(pixels, width, height, sprite, x0, y0) {
    var rgba = sprite.rgba, n = rgba.length, j;
    if (x0 >= 0 && y0 >= 0 && x0 + sprite.size <= width && y0 + sprite.size <= height) {
      if (sprite.width !== width) {  // pixel offsets for this canvas width, computed once
        sprite.offsets = new Int32Array(n);
        for (j = 0; j < n; j++) { sprite.offsets[j] = (sprite.xy[j] >> 16) * width + (sprite.xy[j] & 65535); }
        sprite.width = width;
      }
      var base = y0 * width + x0, offsets = sprite.offsets;
      for (j = 0; j < n; j++) { blendPixel(pixels, base + offsets[j], rgba[j]); }
      return;
    }
    for (j = 0; j < n; j++) {  // clipped at the canvas edge
      var x = x0 + (sprite.xy[j] & 65535), y = y0 + (sprite.xy[j] >> 16);
      if (x >= 0 && y >= 0 && x < width && y < height) { blendPixel(pixels, y * width + x, rgba[j]); }
    }
  }

  var OfficerLayer = L.Layer.extend({
    initialize: function () {
      this.count = 0; this.capacity = 0; this.ids = []; this.index = new Map();
      this._grow(1024);
    },
    _grow: function (capacity) {
      var old = this;
      function copy(Type, name) {
        var a = new Type(capacity);
        if (old[name]) { a.set(old[name].subarray(0, old.count)); }
        return a;
      }
      this.lon = copy(Float64Array, "lon"); this.lat = copy(Float64Array, "lat");
      this.dlon = copy(Float64Array, "dlon"); this.dlat = copy(Float64Array, "dlat");
      this.heading = copy(Float32Array, "heading"); this.duty = copy(Uint8Array, "duty");
      this.ts = copy(Float64Array, "ts");
      this.capacity = capacity;
    },
    // heading NaN: none; duty a DUTY_CODES number (DUTY_KEEP: unchanged); ts NaN: unchanged.
    set: function (id, lon, lat, heading, duty, ts) {
      var i = this.index.get(id);
      if (i === undefined) {
        if (this.count === this.capacity) { this._grow(this.capacity * 2); }
        i = this.count++;
        this.index.set(id, i); this.ids.push(id);
        var info = state.officerInfo.get(id);
        this.duty[i] = info ? (DUTY_CODES[info.duty] || 0) : 0;
        this.ts[i] = NaN;
      }
      this.lon[i] = lon; this.lat[i] = lat;
      if (state.datum === "wgs84") {
        this.dlon[i] = lon; this.dlat[i] = lat;
      } else {
        var d = toDisplay(lon, lat);
        this.dlon[i] = d[0]; this.dlat[i] = d[1];
      }
      this.heading[i] = heading;
      if (duty !== DUTY_KEEP) { this.duty[i] = duty; }
      if (ts === ts) { this.ts[i] = ts; }
    },
    remove: function (id) {
      var i = this.index.get(id);
      if (i === undefined) { return; }
      var last = this.count - 1, lastId = this.ids[last];
      var arrays = [this.lon, this.lat, this.dlon, this.dlat, this.heading, this.duty, this.ts];
      arrays.forEach(function (a) { a[i] = a[last]; });
      this.ids[i] = lastId; this.index.set(lastId, i);
      this.ids.pop(); this.index.delete(id); this.count = last;
    },
    clear: function () { this.count = 0; this.ids = []; this.index = new Map(); },
    reproject: function () {
      for (var i = 0; i < this.count; i++) {
        var d = toDisplay(this.lon[i], this.lat[i]);
        this.dlon[i] = d[0]; this.dlat[i] = d[1];
      }
    },
    onAdd: function (map) {
      this._canvas = L.DomUtil.create("canvas", "cm-officers leaflet-zoom-hide");
      // own pane above the vector canvas (district fills) and below the DOM markers
      var pane = map.getPane("cmOfficers") || map.createPane("cmOfficers");
      pane.style.zIndex = 450;
      pane.appendChild(this._canvas);
      map.on("moveend zoomend resize viewreset", this.redraw, this);
      this.redraw();
    },
    onRemove: function (map) {
      map.off("moveend zoomend resize viewreset", this.redraw, this);
      L.DomUtil.remove(this._canvas);
      this._canvas = null;
    },
    // Container pixel of display coordinates: spherical Mercator, as Leaflet's EPSG:3857.
    _projector: function () {
      var map = this._map, scale = 256 * Math.pow(2, map.getZoom()), origin = map.getPixelBounds().min;
      return function (lon, lat, out) {
        var s = Math.sin(Math.max(Math.min(lat, 85.0511287798), -85.0511287798) * Math.PI / 180);
        out[0] = scale * (lon / 360 + 0.5) - origin.x;
        out[1] = scale * (0.5 - 0.25 * Math.log((1 + s) / (1 - s)) / Math.PI) - origin.y;
      };
    },
    redraw: function () {
      if (!this._map || !this._canvas) { return; }
      var map = this._map, size = map.getSize(), canvas = this._canvas, ratio = window.devicePixelRatio || 1;
      var width = Math.round(size.x * ratio), height = Math.round(size.y * ratio);
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width; canvas.height = height;
        canvas.style.width = size.x + "px"; canvas.style.height = size.y + "px";
      }
      L.DomUtil.setPosition(canvas, map.containerPointToLayerPoint([0, 0]));
      this.drawn = this.count;
      this.redraws = (this.redraws || 0) + 1;
      if (width === 0 || height === 0) { return; }  // not laid out yet: nothing to paint
      var ctx = canvas.getContext("2d");
      if (!this._image || this._image.width !== width || this._image.height !== height) {
        this._image = ctx.createImageData(width, height);
        this._pixels = new Int32Array(this._image.data.buffer);
      }
      var pixels = this._pixels, sheet = sprites(ratio), spriteSize = sheet[0][0].size, half = spriteSize / 2;
      pixels.fill(0);
      // spherical Mercator to device pixels, inline (as _projector, times the pixel ratio)
      var scale = 256 * Math.pow(2, map.getZoom()) * ratio, origin = map.getPixelBounds().min;
      var ox = origin.x * ratio + half, oy = origin.y * ratio + half, now = Date.now() / 1000, LIMIT = 85.0511287798;
      for (var i = 0; i < this.count; i++) {
        var x0 = (scale * (this.dlon[i] / 360 + 0.5) - ox) | 0;
        if (x0 <= -spriteSize || x0 >= width) { continue; }
        var s = Math.sin(Math.max(Math.min(this.dlat[i], LIMIT), -LIMIT) * Math.PI / 180);
        var y0 = (scale * (0.5 - 0.25 * Math.log((1 + s) / (1 - s)) / Math.PI) - oy) | 0;
        if (y0 <= -spriteSize || y0 >= height) { continue; }
        var stale = this.ts[i] === this.ts[i] && now - this.ts[i] > state.staleSeconds;
        var h = this.heading[i];
        var step = h === h ? 1 + (Math.round(((h % 360) + 360) % 360 / HEADING_STEP) % HEADING_STEPS) : 0;
        blitSprite(pixels, width, height, sheet[stale ? 3 : this.duty[i]][step], x0, y0);
      }
      ctx.putImageData(this._image, 0, 0);
    },
    hit: function (containerPoint) {
      var project = this._projector(), p = [0, 0], best = -1, bestD = HIT_RADIUS_PX * HIT_RADIUS_PX;
      for (var i = 0; i < this.count; i++) {
        project(this.dlon[i], this.dlat[i], p);
        var dx = p[0] - containerPoint.x, dy = p[1] - containerPoint.y, d = dx * dx + dy * dy;
        if (d <= bestD) { best = i; bestD = d; }
      }
      return best < 0 ? null : this.ids[best];
    },
    position: function (id) {
      var i = this.index.get(id);
      return i === undefined ? null : [this.lon[i], this.lat[i]];
    }
  });

  // ---- layers ------------------------------------------------------------------------------
  function clearWorld(keepOfficers) {
    ["districts", "grids", "enterprises", "squads"].forEach(function (n) { state.groups[n].clearLayers(); });
    state.gridLabels.clearLayers();
    state.districtLayers.clear(); state.gridLayers.clear(); state.gridInfo.clear();
    state.enterprises.clear(); state.squads.clear();
    if (!keepOfficers) { state.officers.clear(); state.officerInfo.clear(); }
    state.selected = null;
  }

  function enterpriseIcon(e) {
    var glyph = INDUSTRY_GLYPHS[e.industry] || "企";
    return L.divIcon({
      className: "cm-enterprise cm-ent-" + (e.state || "normal"),
      html: "<span>" + glyph + "</span>", iconSize: [18, 18], iconAnchor: [9, 9]
    });
  }

  // redraw: the same world again (new datum or basemap); officers keep their live positions.
  function drawWorld(op, redraw) {
    clearWorld(redraw);
    var districtStyle = { color: "#37474f", weight: 2, fillColor: "#eceff1", fillOpacity: state.basemap ? 0.15 : 1 };
    (op.districts || []).forEach(function (d) {
      var layer = L.geoJSON(d.geometry, { renderer: state.renderer, coordsToLatLng: coordsToLatLng, style: districtStyle });
      layer.addTo(state.groups.districts);
      state.districtLayers.set(String(d.adcode), layer);
      if (d.label) { label(d.label[0], d.label[1], d.name, "cm-district-label").addTo(state.groups.districts); }
    });
    applyDistrictValues();
    var features = (op.grids || []).map(function (g) {
      state.gridInfo.set(String(g.id), g);
      return { type: "Feature", properties: { id: String(g.id) }, geometry: g.geometry };
    });
    L.geoJSON({ type: "FeatureCollection", features: features }, {
      renderer: state.renderer, coordsToLatLng: coordsToLatLng,
      style: { color: "#90a4ae", weight: 1, fill: true, fillOpacity: 0 },
      onEachFeature: function (feature, layer) {
        state.gridLayers.set(feature.properties.id, layer);
        layer.gridId = feature.properties.id;
        state.groups.grids.addLayer(layer);
      }
    });
    (op.squads || []).forEach(function (s) {
      var marker = L.circleMarker(displayLatLng(s.lon, s.lat), {
        renderer: state.renderer, radius: 8, weight: 3, color: "#ff6f00",
        fillColor: s.available === false ? "#bdbdbd" : "#ffe082", fillOpacity: 1
      }).bindTooltip(escapeHtml(s.name)).on("click", onFeatureClick("squad", s.id));
      marker.info = s;
      state.squads.set(String(s.id), marker);
      marker.addTo(state.groups.squads);
    });
    (op.enterprises || []).forEach(function (e) {
      var marker = L.marker(displayLatLng(e.lon, e.lat), { icon: enterpriseIcon(e), keyboard: false })
        .bindTooltip(escapeHtml(e.name)).on("click", onFeatureClick("enterprise", e.id));
      marker.info = e;
      state.enterprises.set(String(e.id), marker);
      marker.addTo(state.groups.enterprises);
    });
    if (!redraw) { addOfficers(op.officers || []); }
    updateGridLabels();
  }

  // The world is fitted to the view again whenever the view changes size (the window being
  // laid out, docks opening), until anything else moves the map: a fit done before the page
  // has its final size would leave the world tiny or far too large.
  function fitWorld() {
    state.autoFit = true;
    var size = state.map.getSize();
    if (!size.x || !size.y) { return; }
    var bounds = L.latLngBounds([]);
    state.districtLayers.forEach(function (l) { bounds.extend(l.getBounds()); });
    if (!bounds.isValid()) { return; }
    state.fitting = true;
    try { state.map.fitBounds(bounds, { animate: false }); } finally { state.fitting = false; }
  }

  function addOfficers(records) {
    records.forEach(function (o) {
      var id = String(o.id);
      state.officerInfo.set(id, o);
      if (typeof o.lon === "number" && typeof o.lat === "number") {
        state.officers.set(id, o.lon, o.lat, typeof o.heading === "number" ? o.heading : NaN,
          DUTY_CODES[o.duty] || 0, typeof o.ts === "number" ? o.ts : NaN);
      }
    });
    state.officers.redraw();
  }

  function setEnterpriseState(id, value) {
    var marker = state.enterprises.get(id);
    if (!marker) { return; }
    marker.info.state = value;
    marker.setIcon(enterpriseIcon(marker.info));
    if (state.selected === marker) { L.DomUtil.addClass(marker.getElement(), "cm-selected"); }
  }

  function pin(kind, item) {
    var status = kind === "complaint" ? item.status : item.state;
    var classes = "cm-pin cm-" + kind + " cm-status-" + status + " cm-urgency-" + (item.urgency || "normal");
    if (item.overdue) { classes += " cm-overdue"; }
    var marker = L.marker(displayLatLng(item.lon, item.lat), {
      keyboard: false,
      icon: L.divIcon({ className: classes, html: "<span>" + (kind === "complaint" ? "诉" : "任") + "</span>", iconSize: [20, 20], iconAnchor: [10, 10] })
    }).on("click", onFeatureClick(kind, item.id));
    marker.info = item;
    return marker;
  }

  function upsertPins(kind, store, group, items) {
    items.forEach(function (item) {
      var id = String(item.id), old = store.get(id);
      if (old) { group.removeLayer(old); }
      var marker = pin(kind, item);
      store.set(id, marker);
      group.addLayer(marker);
    });
  }

  function setCameras(items) {
    state.groups.cameras.clearLayers(); state.cameras.clear();
    items.forEach(function (c) {
      var marker = L.marker(displayLatLng(c.lon, c.lat), {
        keyboard: false,
        icon: L.divIcon({ className: "cm-camera" + (c.online ? "" : " cm-camera-offline"), html: "<span>◉</span>", iconSize: [16, 16], iconAnchor: [8, 8] })
      }).bindTooltip(escapeHtml(c.name)).on("click", onFeatureClick("camera", c.id));
      marker.info = c;
      state.cameras.set(String(c.id), marker);
      marker.addTo(state.groups.cameras);
    });
  }

  function setHeat(points) {
    state.heatPoints = points;
    state.groups.heat.setLatLngs(points.map(function (p) {
      var ll = displayLatLng(p[0], p[1]);
      return [ll.lat, ll.lng, p.length > 2 ? p[2] : 1];
    }));
  }

  function setLayerVisible(name, visible) {
    if (name === "grid_labels") {
      state.gridLabelsWanted = visible;
    } else if (!state.groups[name]) {
      throw new Error("unknown map layer " + name);
    } else if (visible) {
      state.map.addLayer(state.groups[name]);
    } else {
      state.map.removeLayer(state.groups[name]);
    }
    updateGridLabels();
  }

  // Grid labels only for the grids in view (11,000 DOM labels would stall every pan).
  function updateGridLabels() {
    var map = state.map;
    state.gridLabels.clearLayers();
    var show = state.gridLabelsWanted && map.hasLayer(state.groups.grids) && map.getZoom() >= GRID_LABEL_MIN_ZOOM;
    if (!show) { return; }
    var bounds = map.getBounds(), added = 0;
    state.gridInfo.forEach(function (g) {
      if (added >= GRID_LABEL_LIMIT || !g.label) { return; }
      var ll = displayLatLng(g.label[0], g.label[1]);
      if (bounds.contains(ll)) { state.gridLabels.addLayer(label(g.label[0], g.label[1], g.name, "cm-grid-label")); added++; }
    });
  }

  // ---- selection: highlight, task links, follow --------------------------------------------
  function clearSelection() {
    state.groups.selection.clearLayers();
    if (state.selected && state.selected.getElement && state.selected.getElement()) {
      L.DomUtil.removeClass(state.selected.getElement(), "cm-selected");
    }
    state.selected = null; state.selection = null;
  }

  function link(fromLonLat, toLonLat, colour, text) {
    var a = displayLatLng(fromLonLat[0], fromLonLat[1]), b = displayLatLng(toLonLat[0], toLonLat[1]);
    var metres = L.latLng(fromLonLat[1], fromLonLat[0]).distanceTo(L.latLng(toLonLat[1], toLonLat[0]));
    L.polyline([a, b], { renderer: state.renderer, color: colour, weight: 3, dashArray: "6 4", interactive: false })
      .bindTooltip((text ? escapeHtml(text) + " " : "") + formatDistance(metres), { permanent: true, direction: "center", className: "cm-distance" })
      .addTo(state.groups.selection);
    return metres;
  }

  function selectTask(id) {
    var marker = state.tasks.get(id);
    if (!marker) { return; }
    var task = marker.info, from = [task.lon, task.lat], links = [];
    var grid = state.gridLayers.get(String(task.grid_id));
    if (grid) {
      L.geoJSON(grid.feature.geometry, { renderer: state.renderer, coordsToLatLng: coordsToLatLng, interactive: false,
        style: { color: "#ff6f00", weight: 3, fillColor: "#ffb74d", fillOpacity: 0.25 } }).addTo(state.groups.selection);
    }
    var info = state.gridInfo.get(String(task.grid_id));
    var officerId = task.assignee_officer_id || (info && info.officer_id);
    var officer = officerId ? state.officers.position(String(officerId)) : null;
    if (officer) {
      var who = state.officerInfo.get(String(officerId));
      links.push({ kind: "officer", id: String(officerId), metres: link(from, officer, "#1565c0", who && who.name) });
    }
    (task.squad_ids || []).forEach(function (sid) {
      var squad = state.squads.get(String(sid));
      if (squad) {
        links.push({ kind: "squad", id: String(sid), metres: link(from, [squad.info.lon, squad.info.lat], "#ff6f00", squad.info.name) });
      }
    });
    state.selection = { kind: "task", id: id, links: links };
  }

  function select(kind, id) {
    clearSelection();
    if (kind === "task") { selectTask(id); return; }
    state.selection = { kind: kind, id: id, links: [] };
    if (kind === "grid") {
      var grid = state.gridLayers.get(id);
      if (grid) {
        L.geoJSON(grid.feature.geometry, { renderer: state.renderer, coordsToLatLng: coordsToLatLng, interactive: false,
          style: { color: "#ff6f00", weight: 3, fillOpacity: 0.15 } }).addTo(state.groups.selection);
      }
      return;
    }
    if (kind === "officer") {
      var pos = state.officers.position(id);
      if (pos) {
        L.circleMarker(displayLatLng(pos[0], pos[1]), { renderer: state.renderer, radius: 11, weight: 3, color: "#ffeb3b", fill: false, interactive: false })
          .addTo(state.groups.selection);
      }
      return;
    }
    var stores = { enterprise: state.enterprises, complaint: state.complaints, camera: state.cameras, squad: state.squads };
    var marker = stores[kind] ? stores[kind].get(id) : null;
    if (marker && marker.getElement && marker.getElement()) {
      L.DomUtil.addClass(marker.getElement(), "cm-selected");
      state.selected = marker;
    } else if (marker) {
      L.circleMarker(marker.getLatLng(), { renderer: state.renderer, radius: 12, weight: 3, color: "#ffeb3b", fill: false, interactive: false })
        .addTo(state.groups.selection);
    }
  }

  // True when it panned: a pan without animation ends in "moveend", which redraws the officers.
  function followOfficer() {
    if (!state.follow) { return false; }
    var pos = state.officers.position(state.follow);
    if (!pos) { return false; }
    state.map.panTo(displayLatLng(pos[0], pos[1]), { animate: false });
    return true;
  }

  // ---- basemap and datum ---------------------------------------------------------------------
  function setBasemap(op) {
    if (state.basemap) { state.map.removeLayer(state.basemap); state.basemap = null; }
    if (op.kind !== "vector") {
      state.basemap = L.tileLayer(op.url, { maxZoom: op.max_zoom || 19, maxNativeZoom: op.max_native_zoom || 18, attribution: op.attribution || "" });
      state.basemap.addTo(state.map);
      state.basemap.bringToBack();
    }
    setDatum(op.datum || "wgs84", true);
  }

  // Re-place every overlay from its stored WGS84 coordinates in the new display datum.
  function setDatum(datum, force) {
    if (datum !== "wgs84" && datum !== "gcj02") { throw new Error("unknown datum " + datum); }
    if (datum === state.datum && !force) { return; }
    var center = state.map.getCenter(), centre = fromDisplay(center.lng, center.lat), selection = state.selection;
    state.datum = datum;
    if (state.worldOp) { drawWorld(state.worldOp, true); }
    state.officers.reproject();
    var complaints = [], tasks = [];
    state.complaints.forEach(function (m) { complaints.push(m.info); });
    state.tasks.forEach(function (m) { tasks.push(m.info); });
    state.groups.complaints.clearLayers(); state.complaints.clear();
    state.groups.tasks.clearLayers(); state.tasks.clear();
    upsertPins("complaint", state.complaints, state.groups.complaints, complaints);
    upsertPins("task", state.tasks, state.groups.tasks, tasks);
    var cameras = []; state.cameras.forEach(function (m) { cameras.push(m.info); });
    setCameras(cameras);
    setHeat(state.heatPoints);
    state.officers.redraw();
    state.map.setView(displayLatLng(centre[0], centre[1]), state.map.getZoom(), { animate: false });
    if (selection) { select(selection.kind, selection.id); }
  }

  // ---- popup and legend --------------------------------------------------------------------
  function showLocatePopup(op) {
    var r = op.result, rows = [];
    if (!r) {
      rows.push("<b>" + escapeHtml(t("Outside the jurisdiction")) + "</b>");
    } else {
      rows.push("<b>" + escapeHtml(t("District")) + ":</b> " + escapeHtml(r.district.name));
      rows.push("<b>" + escapeHtml(t("Grid")) + ":</b> " + escapeHtml(r.grid.name));
      rows.push("<b>" + escapeHtml(t("Grid officer")) + ":</b> " +
        (r.grid_officer ? escapeHtml(r.grid_officer.name + " " + (r.grid_officer.phone || "")) : "—"));
      var squads = (r.squads || []).map(function (s) { return escapeHtml(s.name) + " (" + formatDistance(s.distance_m) + ")"; });
      rows.push("<b>" + escapeHtml(t("Nearest squads")) + ":</b> " + (squads.join(", ") || "—"));
    }
    rows.push("<small>" + op.lon.toFixed(6) + ", " + op.lat.toFixed(6) + " (WGS84)</small>");
    state.popup = L.popup({ className: "cm-popup" }).setLatLng(displayLatLng(op.lon, op.lat))
      .setContent(rows.join("<br>")).openOn(state.map);
  }

  // ---- choropleth ----------------------------------------------------------------------------
  // Five classes from light to dark; class edges are equal steps up to the largest value.
  // The lighter half of ColorBrewer's Oranges: without a basemap the fill is the land itself,
  // and grids, labels and markers must stay readable on the busiest district (on the dark
  // half, #7f2704, the grid labels were lost).
  var CHOROPLETH = ["#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c"];

  function choroplethClass(value, max) {
    if (!(max > 0)) { return 0; }
    return Math.min(CHOROPLETH.length - 1, Math.floor((value / max) * CHOROPLETH.length));
  }

  // [class, label] of each legend row. Counts get whole-number ranges, and classes no count
  // can fall in are left out (with at most 4 open cases, "0–0", "0–1", "1–1" … said nothing);
  // all zero is one row, "0".
  function choroplethLabels(values, max) {
    if (!(max > 0)) { return [[0, "0"]]; }
    var integral = Object.keys(values).every(function (k) { return Number.isInteger(Number(values[k])); });
    var n = CHOROPLETH.length, rows = [];
    var fmt = function (x) { return String(Math.round(x * 10) / 10); };
    for (var i = 0; i < n; i++) {
      var lo = (max * i) / n, hi = (max * (i + 1)) / n;
      if (!integral) { rows.push([i, fmt(lo) + "–" + fmt(hi)]); continue; }
      var first = Math.ceil(lo - 1e-9), last = i === n - 1 ? max : Math.ceil(hi - 1e-9) - 1;
      if (first > last) { continue; }
      rows.push([i, first === last ? String(first) : first + "–" + last]);
    }
    return rows;
  }

  function applyDistrictValues() {
    var dv = state.districtValues, values = (dv && dv.values) || {};
    var max = 0;
    Object.keys(values).forEach(function (k) { max = Math.max(max, Number(values[k]) || 0); });
    var active = Object.keys(values).length > 0;
    state.districtLayers.forEach(function (layer, adcode) {
      var has = Object.prototype.hasOwnProperty.call(values, adcode);
      layer.setStyle(active && has
        ? { fillColor: CHOROPLETH[choroplethClass(Number(values[adcode]) || 0, max)], fillOpacity: state.basemap ? 0.55 : 1 }
        : { fillColor: "#eceff1", fillOpacity: state.basemap ? 0.15 : 1 });
    });
    if (state.choroplethLegend) { state.choroplethLegend.remove(); state.choroplethLegend = null; }
    if (!active) { return; }
    state.choroplethLegend = L.control({ position: "bottomleft" });
    state.choroplethLegend.onAdd = function () {
      var div = L.DomUtil.create("div", "cm-legend cm-choropleth-legend");
      var rows = ["<b>" + escapeHtml(dv.title || "") + "</b>"];
      choroplethLabels(values, max).forEach(function (entry) {
        rows.push("<div><i style=\"background:" + CHOROPLETH[entry[0]] + "\"></i>" + entry[1] + "</div>");
      });
      div.innerHTML = rows.join("");
      return div;
    };
    state.choroplethLegend.addTo(state.map);
  }

  function buildLegend(entries) {
    if (state.legend) { state.legend.remove(); }
    state.legend = L.control({ position: "bottomright" });
    state.legend.onAdd = function () {
      var div = L.DomUtil.create("div", "cm-legend");
      div.innerHTML = entries.map(function (e) {
        return "<div><i style=\"background:" + escapeHtml(e.colour) + "\"></i>" + escapeHtml(e.text) + "</div>";
      }).join("");
      return div;
    };
    state.legend.addTo(state.map);
  }

  // ---- operations ----------------------------------------------------------------------------
  var OPS = {
    "labels": function (op) { state.labels = op.labels; },
    "legend": function (op) { buildLegend(op.entries); },
    "districts.values": function (op) { state.districtValues = { title: op.title, values: op.values }; applyDistrictValues(); },
    "world": function (op) { state.worldOp = op; drawWorld(op, false); if (op.fit) { fitWorld(); } },
    "officers.upsert": function (op) { addOfficers(op.items); },
    "officers.move": function (op) {
      var layer = state.officers, rows = unpack(op), keys = packedKeys[op.op];
      var slot = rows.slot, lon = rows.lon, lat = rows.lat, duty = rows.duty;
      var heading = rows.heading || nanColumn(rows.count), ts = rows.ts || nanColumn(rows.count);
      for (var i = 0; i < rows.count; i++) {
        layer.set(keys[slot[i]], lon[i], lat[i], heading[i], duty[i], ts[i]);
      }
      if (!followOfficer()) { layer.redraw(); }  // following: the pan has redrawn them
      if (state.selection && state.selection.kind === "officer") { select("officer", state.selection.id); }
    },
    "officers.remove": function (op) {
      op.ids.forEach(function (id) { state.officers.remove(String(id)); state.officerInfo.delete(String(id)); });
      state.officers.redraw();
    },
    "officers.stale": function (op) { state.staleSeconds = op.seconds; state.officers.redraw(); },
    "enterprises.state": function (op) { op.items.forEach(function (it) { setEnterpriseState(String(it[0]), it[1]); }); },
    "complaints": function (op) {
      if (op.replace) { state.groups.complaints.clearLayers(); state.complaints.clear(); }
      upsertPins("complaint", state.complaints, state.groups.complaints, op.items);
    },
    "tasks": function (op) {
      if (op.replace) { state.groups.tasks.clearLayers(); state.tasks.clear(); }
      upsertPins("task", state.tasks, state.groups.tasks, op.items);
      if (state.selection && state.selection.kind === "task") { select("task", state.selection.id); }
    },
    "cameras": function (op) { setCameras(op.items); },
    "layer.visible": function (op) { setLayerVisible(op.layer, op.visible); },
    "heat": function (op) { setHeat(op.points); },
    "select": function (op) { select(op.kind, String(op.id)); },
    "follow": function (op) { state.follow = op.id ? String(op.id) : null; followOfficer(); },
    "focus.officer": function (op) {
      var pos = state.officers.position(String(op.id));
      if (pos) { state.map.setView(displayLatLng(pos[0], pos[1]), Math.max(state.map.getZoom(), 15), { animate: false }); }
    },
    "view": function (op) {
      state.map.setView(displayLatLng(op.lon, op.lat), op.zoom || state.map.getZoom(), { animate: false });
    },
    "marker": function (op) {
      if (state.searchMarker) { state.searchMarker.remove(); }
      state.searchMarker = L.circleMarker(displayLatLng(op.lon, op.lat), { renderer: state.renderer, radius: 10, weight: 3, color: "#d81b60", fill: false, interactive: false })
        .bindTooltip(escapeHtml(op.text || ""), { permanent: !!op.text }).addTo(state.map);
    },
    "zoom.district": function (op) {
      var layer = state.districtLayers.get(String(op.adcode));
      if (!layer) { throw new Error("unknown district " + op.adcode); }
      state.map.fitBounds(layer.getBounds(), { animate: false });
    },
    "fit": function () { fitWorld(); },
    "popup.locate": showLocatePopup,
    "basemap": setBasemap,
    "draw.language": function (op) { state.map.pm.setLang(op.language); }
  };

  // ---- packed operations (console/map/packing.py): typed columns, keys sent once per slot ----
  var PACKED_TYPES = { f8: Float64Array, f4: Float32Array, u4: Uint32Array, u1: Uint8Array };
  var packedKeys = {};

  function learnKeys(op) {
    var keys = packedKeys[op.op] || (packedKeys[op.op] = []);
    if (op.first_slot !== keys.length) {
      throw new Error("packed " + op.op + ": key slots out of step (page has " + keys.length + ", batch starts at " + op.first_slot + ")");
    }
    for (var i = 0; i < op.new_keys.length; i++) { keys.push(op.new_keys[i]); }
  }

  function nanColumn(count) { return new Float64Array(count).fill(NaN); }

  function unpack(op) {
    var bytes = Uint8Array.fromBase64(op.data), offset = 0, rows = { count: op.count };
    op.columns.forEach(function (column) {
      var Type = PACKED_TYPES[column[1]];
      if (!Type) { throw new Error("packed " + op.op + ": unknown column type " + column[1]); }
      rows[column[0]] = new Type(bytes.buffer, bytes.byteOffset + offset, op.count);
      offset += op.count * Type.BYTES_PER_ELEMENT;
    });
    if (offset !== bytes.length) { throw new Error("packed " + op.op + ": " + bytes.length + " bytes for " + offset + " expected"); }
    return rows;
  }

  function applyBatch(ops, seq) {
    // Keys first: a failing operation must not leave the slot tables behind Python's.
    ops.forEach(function (op) { if (op.new_keys) { learnKeys(op); } });
    ops.forEach(function (op) {
      var handler = OPS[op.op];
      if (!handler) { throw new Error("unknown map operation " + op.op); }
      handler(op);
    });
    // Leaflet's vector canvas redraws on the next animation frame; the frame after that is painted.
    requestAnimationFrame(function () {
      requestAnimationFrame(function () { send("js_rendered", seq); });
    });
  }

  function markerPosition(marker) {
    if (!marker) { return null; }
    var ll = marker.getLatLng();
    return [ll.lng, ll.lat];
  }

  var QUERIES = {
    choropleth_legend: function () {
      var el = document.querySelector(".cm-choropleth-legend");
      return el ? el.textContent : null;
    },
    district_fill: function (adcode) {
      var layer = state.districtLayers.get(String(adcode));
      if (!layer) { return null; }
      var fill = null;
      layer.eachLayer(function (l) { fill = l.options.fillColor; });
      return fill;
    },
    officers: function () {
      var layer = state.officers, out = [];
      for (var i = 0; i < layer.count; i++) {
        out.push([layer.ids[i], layer.lon[i], layer.lat[i], layer.heading[i] === layer.heading[i] ? layer.heading[i] : null]);
      }
      return out;
    },
    officers_drawn: function () { return state.officers.drawn; },
    officer_redraws: function () { return state.officers.redraws || 0; },
    officer_state: function (id) {
      var layer = state.officers, i = layer.index.get(id);
      if (i === undefined) { return null; }
      var h = layer.heading[i], ts = layer.ts[i];
      return { lon: layer.lon[i], lat: layer.lat[i], heading: h === h ? h : null, duty: layer.duty[i], ts: ts === ts ? ts : null };
    },
    // The officer canvas's RGBA at a container point: what was really painted there.
    officer_pixel: function (x, y) {
      var canvas = state.officers._canvas, ratio = window.devicePixelRatio || 1;
      return Array.prototype.slice.call(canvas.getContext("2d").getImageData(Math.round(x * ratio), Math.round(y * ratio), 1, 1).data);
    },
    officer_display: function (id) {
      var i = state.officers.index.get(id);
      return i === undefined ? null : [state.officers.dlon[i], state.officers.dlat[i]];
    },
    counts: function () {
      return {
        districts: state.groups.districts.getLayers().length,
        grids: state.gridLayers.size,
        grid_labels: state.gridLabels.getLayers().length,
        enterprises: state.enterprises.size,
        squads: state.squads.size,
        officers: state.officers.count,
        complaints: state.complaints.size,
        tasks: state.tasks.size,
        cameras: state.cameras.size,
        heat: state.heatPoints.length
      };
    },
    visible: function () {
      var out = {};
      LAYER_NAMES.forEach(function (name) { out[name] = state.map.hasLayer(state.groups[name]); });
      out.grid_labels = state.gridLabels.getLayers().length > 0;
      return out;
    },
    enterprise_states: function () {
      var out = {};
      state.enterprises.forEach(function (m, id) { out[id] = m.info.state; });
      return out;
    },
    display_position: function (kind, id) {
      var stores = { enterprise: state.enterprises, complaint: state.complaints, task: state.tasks, camera: state.cameras, squad: state.squads };
      if (kind === "officer") { return QUERIES.officer_display(id); }
      return markerPosition(stores[kind] && stores[kind].get(id));
    },
    pin_classes: function (kind, id) {
      var store = kind === "complaint" ? state.complaints : state.tasks, m = store.get(id);
      return m ? m.options.icon.options.className : null;
    },
    clusters: function (kind) {
      var group = state.groups[kind], n = 0;
      group.eachLayer(function () { n++; });
      var visible = 0;
      group._featureGroup.eachLayer(function () { visible++; });
      return { members: n, drawn: visible };
    },
    selection: function () { return state.selection; },
    popup: function () { return state.popup && state.map.hasLayer(state.popup) ? state.popup.getContent() : null; },
    basemap: function () {
      return { datum: state.datum, url: state.basemap ? state.basemap._url : null, tiles: state.basemap ? Object.keys(state.basemap._tiles).length : 0 };
    },
    tiles_loaded: function () {
      if (!state.basemap) { return 0; }
      var n = 0;
      Object.keys(state.basemap._tiles).forEach(function (k) {
        var el = state.basemap._tiles[k].el;
        if (el.complete && el.naturalWidth > 0) { n++; }
      });
      return n;
    },
    view: function () {
      var c = state.map.getCenter(), b = state.map.getBounds();
      return { lon: c.lng, lat: c.lat, zoom: state.map.getZoom(), bounds: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()] };
    },
    lonlat_at: function (x, y) {
      var ll = state.map.containerPointToLatLng([x, y]), w = fromDisplay(ll.lng, ll.lat);
      return [w[0], w[1]];
    },
    point_of: function (lon, lat) {
      var p = state.map.latLngToContainerPoint(displayLatLng(lon, lat));
      return [p.x, p.y];
    },
    gcj02: function (points) { return points.map(function (p) { return wgsToGcj(p[0], p[1]); }); },
    wgs84: function (points) { return points.map(function (p) { return gcjToWgs(p[0], p[1]); }); }
  };

  function query(name, args) {
    var fn = QUERIES[name];
    if (!fn) { throw new Error("unknown map query " + name); }
    return fn.apply(null, args || []);
  }

  function sendViewport() {
    var b = state.map.getBounds(), sw = fromDisplay(b.getWest(), b.getSouth()), ne = fromDisplay(b.getEast(), b.getNorth());
    send("js_viewport", sw[0], sw[1], ne[0], ne[1], state.map.getZoom());
  }

  function measureLine(latlngs) {
    var total = 0;
    for (var i = 1; i < latlngs.length; i++) { total += state.map.distance(latlngs[i - 1], latlngs[i]); }
    return total;
  }

  // Spherical polygon area (m²), the formula Leaflet.draw's GeometryUtil.geodesicArea uses.
  function measureArea(latlngs) {
    var area = 0, R = 6378137, rad = Math.PI / 180, n = latlngs.length;
    for (var i = 0; i < n; i++) {
      var p1 = latlngs[i], p2 = latlngs[(i + 1) % n];
      area += (p2.lng - p1.lng) * rad * (2 + Math.sin(p1.lat * rad) + Math.sin(p2.lat * rad));
    }
    return Math.abs(area * R * R / 2);
  }

  function onDrawn(e) {
    var layer = e.layer, measure = 0, text = "";
    if (e.shape === "Line") {
      measure = measureLine(layer.getLatLngs());
      text = formatDistance(measure);
    } else if (e.shape === "Polygon" || e.shape === "Rectangle") {
      measure = measureArea(layer.getLatLngs()[0]);
      text = (measure / 1e6).toFixed(2) + " km²";
    }
    if (text) { layer.bindTooltip(text, { permanent: true, className: "cm-measure" }).openTooltip(); }
    var geometry = layer.toGeoJSON().geometry;
    geometry.coordinates = JSON.parse(JSON.stringify(geometry.coordinates), function (key, value) {
      return Array.isArray(value) && typeof value[0] === "number" ? fromDisplay(value[0], value[1]) : value;
    });
    send("js_drawn", e.shape, JSON.stringify(geometry), measure);
  }

  function onMapClick(e) {
    var id = state.map.hasLayer(state.officers) ? state.officers.hit(e.containerPoint) : null;
    if (id !== null) { send("js_feature_clicked", "officer", id); return; }
    var w = fromDisplay(e.latlng.lng, e.latlng.lat);
    send("js_clicked", w[0], w[1]);
  }

  function cluster() {
    return L.markerClusterGroup({ maxClusterRadius: 40, disableClusteringAtZoom: 16, showCoverageOnHover: false, chunkedLoading: true });
  }

  function attach(map) {
    state.map = map;
    state.renderer = L.canvas({ padding: 0.5 });
    state.officers = new OfficerLayer();
    LAYER_NAMES.forEach(function (name) {
      var group = name === "heat" ? L.heatLayer([], { radius: 20, blur: 15 })
        : name === "complaints" || name === "tasks" ? cluster()
        : name === "officers" ? state.officers : L.featureGroup();
      state.groups[name] = group;
      if (name !== "heat") { group.addTo(map); }
    });
    state.gridLabels = L.layerGroup().addTo(map);
    map.pm.addControls({
      position: "topleft", drawMarker: false, drawCircleMarker: false, drawText: false,
      drawCircle: false, cutPolygon: false, rotateMode: false
    });
    map.on("pm:create", onDrawn);
    map.on("click", onMapClick);
    map.on("contextmenu", function (e) {
      var w = fromDisplay(e.latlng.lng, e.latlng.lat);
      send("js_context_menu", w[0], w[1]);
    });
    map.on("moveend", function () { updateGridLabels(); sendViewport(); });
    map.on("resize", function () { if (state.autoFit) { fitWorld(); } });
    map.on("movestart", function () { if (!state.fitting) { state.autoFit = false; } });
    new QWebChannel(qt.webChannelTransport, function (channel) {
      state.bridge = channel.objects.bridge;
      send("js_ready");
      sendViewport();
    });
  }

  window.consoleMap = { attach: attach, applyBatch: applyBatch, query: query, state: state };
})();
