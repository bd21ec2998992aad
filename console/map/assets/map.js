/*
 * Console map: the layers of the dispatcher's map and the JS side of MapBridge.
 *
 * Python never rebuilds this page; it sends batches of operations through
 * consoleMap.applyBatch(ops, seq) (one call per frame at most) and hears back through the
 * QWebChannel object "bridge". All vector layers share one L.canvas() renderer so that
 * 10,000 moving officers stay one canvas redraw per frame instead of 10,000 DOM nodes.
 */
(function () {
  "use strict";

  var ENTERPRISE_COLOURS = {
    normal: "#2e7d32",
    warning: "#f9a825",
    exceeding: "#d32f2f",
    offline: "#757575",
    inspecting: "#1565c0"
  };
  var OFFICER_COLOURS = { grid_officer: "#1565c0", squad_member: "#6a1b9a" };
  var GRID_LABEL_MIN_ZOOM = 13;
  var LAYER_NAMES = ["districts", "grids", "enterprises", "squads", "officers", "heat"];

  // A circle marker with a heading wedge, drawn by the shared canvas renderer.
  L.Canvas.include({
    _updateHeadingMarker: function (layer) {
      if (!this._drawing || layer._empty()) { return; }
      var p = layer._point, ctx = this._ctx, r = Math.max(Math.round(layer._radius), 1);
      ctx.beginPath();
      ctx.arc(p.x, p.y, r, 0, Math.PI * 2, false);
      if (typeof layer.heading === "number") {
        var a = (layer.heading - 90) * Math.PI / 180;
        ctx.moveTo(p.x + Math.cos(a) * r * 2.2, p.y + Math.sin(a) * r * 2.2);
        ctx.lineTo(p.x + Math.cos(a + 0.6) * r, p.y + Math.sin(a + 0.6) * r);
        ctx.lineTo(p.x + Math.cos(a - 0.6) * r, p.y + Math.sin(a - 0.6) * r);
        ctx.closePath();
      }
      this._fillStroke(ctx, layer);
    }
  });
  var HeadingMarker = L.CircleMarker.extend({
    _updatePath: function () { this._renderer._updateHeadingMarker(this); }
  });

  var state = {
    map: null,
    bridge: null,
    renderer: null,
    groups: {},
    gridLabels: null,
    gridLabelsWanted: true,
    officers: new Map(),      // id -> HeadingMarker
    officerInfo: new Map(),   // id -> snapshot record (officers without a position yet)
    enterprises: new Map(),   // id -> CircleMarker
    selected: null
  };

  function send(method) {
    var args = Array.prototype.slice.call(arguments, 1);
    if (state.bridge && typeof state.bridge[method] === "function") {
      state.bridge[method].apply(state.bridge, args);
    }
  }

  function label(lon, lat, text, className) {
    return L.marker([lat, lon], {
      interactive: false,
      keyboard: false,
      icon: L.divIcon({ className: "cm-label " + className, html: "<span>" + escapeHtml(text) + "</span>", iconSize: null })
    });
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function onFeatureClick(kind, id, stop) {
    return function (e) {
      send("js_feature_clicked", kind, String(id));
      if (stop) { L.DomEvent.stopPropagation(e); }
    };
  }

  function clearGroups() {
    LAYER_NAMES.forEach(function (name) {
      if (name !== "heat") { state.groups[name].clearLayers(); }
    });
    state.gridLabels.clearLayers();
    state.officers.clear();
    state.officerInfo.clear();
    state.enterprises.clear();
    state.selected = null;
  }

  function officerStyle(info) {
    var colour = OFFICER_COLOURS[info.role] || "#1565c0";
    var onDuty = !info.duty || info.duty === "on_duty";
    return {
      renderer: state.renderer, radius: 5, weight: 1, color: "#ffffff",
      fillColor: colour, fillOpacity: onDuty ? 0.95 : 0.4
    };
  }

  function placeOfficer(id, lon, lat, heading) {
    var marker = state.officers.get(id);
    if (marker) {
      marker.heading = heading;
      marker.setLatLng([lat, lon]);
      return;
    }
    var info = state.officerInfo.get(id) || { id: id, name: id };
    marker = new HeadingMarker([lat, lon], officerStyle(info));
    marker.heading = heading;
    marker.officerId = id;
    marker.bindTooltip(escapeHtml(info.name || id));
    marker.on("click", onFeatureClick("officer", id, true));
    state.officers.set(id, marker);
    state.groups.officers.addLayer(marker);
  }

  function numberOrNull(value) { return typeof value === "number" ? value : null; }

  function addOfficers(records) {
    records.forEach(function (o) {
      state.officerInfo.set(String(o.id), o);
      if (typeof o.lon === "number" && typeof o.lat === "number") {
        placeOfficer(String(o.id), o.lon, o.lat, numberOrNull(o.heading));
      }
    });
  }

  function setEnterpriseState(marker, value) {
    marker.enterpriseState = value;
    marker.setStyle({ fillColor: ENTERPRISE_COLOURS[value] || ENTERPRISE_COLOURS.normal });
  }

  function setWorld(op) {
    clearGroups();
    (op.districts || []).forEach(function (d) {
      L.geoJSON(d.geometry, {
        renderer: state.renderer,
        style: { color: "#37474f", weight: 2, fillColor: "#eceff1", fillOpacity: 1 }
      }).on("click", onFeatureClick("district", d.adcode, false)).addTo(state.groups.districts);
      if (d.label) { label(d.label[0], d.label[1], d.name, "cm-district-label").addTo(state.groups.districts); }
    });
    (op.grids || []).forEach(function (g) {
      L.geoJSON(g.geometry, {
        renderer: state.renderer,
        style: { color: "#90a4ae", weight: 1, fill: true, fillOpacity: 0 }
      }).on("click", onFeatureClick("grid", g.id, false)).addTo(state.groups.grids);
      if (g.label) { state.gridLabels.addLayer(label(g.label[0], g.label[1], g.name, "cm-grid-label")); }
    });
    (op.squads || []).forEach(function (s) {
      L.circleMarker([s.lat, s.lon], {
        renderer: state.renderer, radius: 8, weight: 3, color: "#ff6f00",
        fillColor: s.available === false ? "#bdbdbd" : "#ffe082", fillOpacity: 1
      }).bindTooltip(escapeHtml(s.name)).on("click", onFeatureClick("squad", s.id, true))
        .addTo(state.groups.squads);
    });
    (op.enterprises || []).forEach(function (e) {
      var marker = L.circleMarker([e.lat, e.lon], {
        renderer: state.renderer, radius: 6, weight: 1, color: "#263238", fillOpacity: 0.9
      }).bindTooltip(escapeHtml(e.name)).on("click", onFeatureClick("enterprise", e.id, true));
      setEnterpriseState(marker, e.state || "normal");
      state.enterprises.set(String(e.id), marker);
      marker.addTo(state.groups.enterprises);
    });
    addOfficers(op.officers || []);
    updateGridLabels();
    if (op.fit) {
      var bounds = state.groups.districts.getLayers().length
        ? L.featureGroup(state.groups.districts.getLayers().filter(function (l) { return l.getBounds; })).getBounds()
        : null;
      if (bounds && bounds.isValid()) { state.map.fitBounds(bounds, { animate: false }); }
    }
  }

  function setLayerVisible(name, visible) {
    var layer = name === "grid_labels" ? null : state.groups[name];
    if (name === "grid_labels") {
      state.gridLabelsWanted = visible;
    } else if (!layer) {
      throw new Error("unknown map layer " + name);
    } else if (visible) {
      state.map.addLayer(layer);
    } else {
      state.map.removeLayer(layer);
    }
    updateGridLabels();
  }

  function updateGridLabels() {
    var show = state.gridLabelsWanted && state.map.hasLayer(state.groups.grids) &&
      state.map.getZoom() >= GRID_LABEL_MIN_ZOOM;
    if (show && !state.map.hasLayer(state.gridLabels)) { state.map.addLayer(state.gridLabels); }
    if (!show && state.map.hasLayer(state.gridLabels)) { state.map.removeLayer(state.gridLabels); }
  }

  function select(kind, id) {
    if (state.selected) {
      state.selected.setStyle({ weight: state.selected.previousWeight, color: state.selected.previousColour });
      state.selected = null;
    }
    var marker = kind === "officer" ? state.officers.get(id) : kind === "enterprise" ? state.enterprises.get(id) : null;
    if (marker) {
      marker.previousWeight = marker.options.weight;
      marker.previousColour = marker.options.color;
      marker.setStyle({ weight: 4, color: "#ffeb3b" });
      marker.bringToFront();
      state.selected = marker;
    }
  }

  var OPS = {
    "world": setWorld,
    "officers.upsert": function (op) { addOfficers(op.items); },
    "officers.move": function (op) {
      op.items.forEach(function (it) { placeOfficer(String(it[0]), it[1], it[2], numberOrNull(it[3])); });
    },
    "officers.remove": function (op) {
      op.ids.forEach(function (id) {
        var marker = state.officers.get(String(id));
        if (marker) { state.groups.officers.removeLayer(marker); state.officers.delete(String(id)); }
        state.officerInfo.delete(String(id));
      });
    },
    "enterprises.state": function (op) {
      op.items.forEach(function (it) {
        var marker = state.enterprises.get(String(it[0]));
        if (marker) { setEnterpriseState(marker, it[1]); }
      });
    },
    "layer.visible": function (op) { setLayerVisible(op.layer, op.visible); },
    "heat": function (op) {
      state.groups.heat.setLatLngs(op.points.map(function (p) { return [p[1], p[0], p.length > 2 ? p[2] : 1]; }));
    },
    "select": function (op) { select(op.kind, String(op.id)); },
    "view": function (op) { state.map.setView([op.lat, op.lon], op.zoom || state.map.getZoom(), { animate: false }); },
    "draw.language": function (op) { state.map.pm.setLang(op.language); }
  };

  function applyBatch(ops, seq) {
    ops.forEach(function (op) {
      var handler = OPS[op.op];
      if (!handler) { throw new Error("unknown map operation " + op.op); }
      handler(op);
    });
    // Leaflet's canvas redraws on the next animation frame; the frame after that is painted.
    requestAnimationFrame(function () {
      requestAnimationFrame(function () { send("js_rendered", seq); });
    });
  }

  var QUERIES = {
    officers: function () {
      var out = [];
      state.officers.forEach(function (m, id) {
        var ll = m.getLatLng();
        out.push([id, ll.lng, ll.lat, m.heading]);
      });
      return out;
    },
    counts: function () {
      return {
        districts: state.groups.districts.getLayers().length,
        grids: state.groups.grids.getLayers().length,
        grid_labels: state.gridLabels.getLayers().length,
        enterprises: state.enterprises.size,
        squads: state.groups.squads.getLayers().length,
        officers: state.officers.size
      };
    },
    visible: function () {
      var out = {};
      LAYER_NAMES.forEach(function (name) { out[name] = state.map.hasLayer(state.groups[name]); });
      out.grid_labels = state.map.hasLayer(state.gridLabels);
      return out;
    },
    enterprise_states: function () {
      var out = {};
      state.enterprises.forEach(function (m, id) { out[id] = m.enterpriseState; });
      return out;
    },
    view: function () {
      var c = state.map.getCenter(), b = state.map.getBounds();
      return { lon: c.lng, lat: c.lat, zoom: state.map.getZoom(), bounds: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()] };
    },
    lonlat_at: function (x, y) {
      var ll = state.map.containerPointToLatLng([x, y]);
      return [ll.lng, ll.lat];
    },
    point_of: function (lon, lat) {
      var p = state.map.latLngToContainerPoint([lat, lon]);
      return [p.x, p.y];
    }
  };

  function query(name, args) {
    var fn = QUERIES[name];
    if (!fn) { throw new Error("unknown map query " + name); }
    return fn.apply(null, args || []);
  }

  function sendViewport() {
    var b = state.map.getBounds();
    send("js_viewport", b.getWest(), b.getSouth(), b.getEast(), b.getNorth(), state.map.getZoom());
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
      text = (measure / 1000).toFixed(2) + " km";
    } else if (e.shape === "Polygon" || e.shape === "Rectangle") {
      measure = measureArea(layer.getLatLngs()[0]);
      text = (measure / 1e6).toFixed(2) + " km²";
    }
    if (text) { layer.bindTooltip(text, { permanent: true, className: "cm-measure" }).openTooltip(); }
    send("js_drawn", e.shape, JSON.stringify(layer.toGeoJSON().geometry), measure);
  }

  function attach(map) {
    state.map = map;
    state.renderer = L.canvas({ padding: 0.5 });
    LAYER_NAMES.forEach(function (name) {
      state.groups[name] = name === "heat"
        ? L.heatLayer([], { radius: 20, blur: 15 })
        : L.featureGroup();
      if (name !== "heat") { state.groups[name].addTo(map); }
    });
    state.gridLabels = L.layerGroup();
    map.pm.addControls({
      position: "topleft", drawMarker: false, drawCircleMarker: false, drawText: false,
      drawCircle: false, cutPolygon: false, rotateMode: false
    });
    map.on("pm:create", onDrawn);
    map.on("click", function (e) { send("js_clicked", e.latlng.lng, e.latlng.lat); });
    map.on("contextmenu", function (e) { send("js_context_menu", e.latlng.lng, e.latlng.lat); });
    map.on("zoomend", updateGridLabels);
    map.on("moveend", sendViewport);
    new QWebChannel(qt.webChannelTransport, function (channel) {
      state.bridge = channel.objects.bridge;
      send("js_ready");
      sendViewport();
    });
  }

  window.consoleMap = { attach: attach, applyBatch: applyBatch, query: query, state: state };
})();
