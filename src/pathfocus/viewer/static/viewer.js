/* The pathfocus viewer page: a slide list, OpenSeadragon over the server's Deep Zoom tiles, overlays
 * that can be toggled and faded, and a side panel with the slide's metadata and predictions.
 * Everything comes from this server (api/, tiles/, overlays/, static/); nothing else is fetched.
 * window.pathfocus exposes the viewer and its state (tests drive the page through it). */
(function () {
  "use strict";

  const state = { viewer: null, slide: null, layers: {}, openCount: 0 };
  window.pathfocus = state;

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    children.forEach((child) => node.append(child));
    return node;
  }

  function svg(tag, attributes) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    return node;
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    return response.json();
  }

  function number(value, digits) {
    return value === null || value === undefined ? "unknown" : Number(value).toFixed(digits);
  }

  function showMessage(text) {
    const box = document.getElementById("message");
    box.textContent = text || "";
    box.hidden = !text;
  }

  function createViewer() {
    state.viewer = OpenSeadragon({
      id: "osd",
      prefixUrl: "static/openseadragon/images/",
      drawer: "canvas",
      showNavigator: true,
      navigatorPosition: "BOTTOM_RIGHT",
      maxZoomPixelRatio: 2,
      visibilityRatio: 0.5,
      gestureSettingsMouse: { clickToZoom: false },
    });
    state.viewer.addHandler("open-failed", (event) => showMessage("Could not open the slide: " + event.message));
  }

  async function listSlides() {
    const slides = await getJSON("api/slides");
    const list = document.getElementById("slide-list");
    for (const slide of slides) {
      const button = el("button", { type: "button", title: slide.name, text: slide.name });
      button.addEventListener("click", () => openSlide(slide.id).catch(
        (error) => showMessage("The viewer could not open this slide: " + error)));
      list.append(el("li", { "data-id": slide.id }, button));
    }
    const wanted = decodeURIComponent(location.hash.slice(1));
    const first = slides.find((slide) => slide.id === wanted) || slides[0];
    if (first) await openSlide(first.id);
    else showMessage("No slides.");
  }

  async function openSlide(id) {
    const count = ++state.openCount;
    document.body.dataset.ready = "";
    for (const item of document.querySelectorAll("#slide-list li")) {
      item.classList.toggle("active", item.dataset.id === id);
    }
    history.replaceState(null, "", "#" + encodeURIComponent(id));
    const details = await getJSON("api/slides/" + encodeURIComponent(id));
    if (count !== state.openCount) return;  // another slide was chosen meanwhile
    state.slide = details;
    state.layers = {};
    state.viewer.clearOverlays();
    renderInfo(details);
    renderPredictions(details.analyses || []);
    if (details.error) {
      state.viewer.close();
      document.querySelector(`#slide-list li[data-id="${CSS.escape(id)}"]`)?.classList.add("failed");
      showMessage(details.error);
      renderLayers([]);
      document.body.dataset.ready = id;
      return;
    }
    showMessage("");
    state.viewer.addOnceHandler("open", () => {
      if (count !== state.openCount) return;
      renderLayers(details.layers || []);
      document.body.dataset.ready = id;
    });
    state.viewer.open(details.dzi);
  }

  function renderInfo(details) {
    const list = document.querySelector("#info dl");
    list.replaceChildren();
    const rows = [["Name", details.name]];
    if (!details.error) {
      rows.push(["Size", `${details.dimensions[0]} × ${details.dimensions[1]} px`],
                ["Levels", details.levels],
                ["Resolution", details.mpp ? `${number(details.mpp, 4)} µm/px` : "unknown (no mpp)"],
                ["Magnification", details.magnification ? `${details.magnification}×` : "unknown"],
                ["Vendor", details.vendor || "unknown"]);
    }
    for (const [name, value] of rows) list.append(el("dt", { text: name }), el("dd", { text: String(value) }));
  }

  function renderPredictions(analyses) {
    const body = document.querySelector("#predictions .body");
    body.replaceChildren();
    if (!analyses.length) body.append(el("p", { class: "muted", text: "No analysis of this slide." }));
    for (const analysis of analyses) {
      const box = el("div", { class: "analysis" },
        el("div", { text: analysis.method }),
        el("div", { class: "label", text: "Predicted: " + analysis.label }));
      for (const [name, p] of Object.entries(analysis.probabilities)) {
        const bar = el("div", { class: "bar" }, el("span", { style: `width:${(100 * p).toFixed(1)}%` }));
        box.append(el("div", { class: "prob" }, el("span", { text: name }), bar,
                      el("span", { text: number(p, 3) })));
      }
      const run = Object.entries(analysis.run).map(([key, value]) =>
        `${key}: ${typeof value === "number" ? Number(value.toPrecision(4)) : value}`);
      box.append(el("div", { class: "run", text: run.join(" · ") }),
                 el("div", { class: "run", text: "from " + analysis.folder }));
      body.append(box);
    }
  }

  function renderLayers(layers) {
    const list = document.querySelector("#layers ul");
    list.replaceChildren();
    if (!layers.length) list.append(el("li", { class: "muted", text: "No overlays." }));
    for (const layer of layers) {
      const entry = { layer, item: null, elements: [], drawn: false, visible: false, opacity: layer.opacity };
      state.layers[layer.key] = entry;
      const toggle = el("input", { type: "checkbox", "data-key": layer.key, "aria-label": layer.label });
      const fade = el("input", { type: "range", min: "0", max: "100", value: String(Math.round(100 * layer.opacity)),
                                 "data-key": layer.key, "aria-label": "Opacity of " + layer.label });
      toggle.addEventListener("change", () => setVisible(layer.key, toggle.checked));
      fade.addEventListener("input", () => setOpacity(layer.key, Number(fade.value) / 100));
      const swatch = el("span", { class: "swatch", style: `background:${layer.colour}` });
      list.append(el("li", {}, el("label", {}, toggle, swatch, el("span", { text: layer.label })), fade));
      if (layer.visible) {
        toggle.checked = true;
        setVisible(layer.key, true);
      }
    }
  }

  function setVisible(key, visible) {
    const entry = state.layers[key];
    if (!entry) return;
    entry.visible = visible;
    if (visible && !entry.drawn) draw(entry);
    apply(entry);
  }

  function setOpacity(key, opacity) {
    const entry = state.layers[key];
    if (!entry) return;
    entry.opacity = opacity;
    apply(entry);
  }

  function apply(entry) {
    const opacity = entry.visible ? entry.opacity : 0;
    if (entry.item) entry.item.setOpacity(opacity);
    for (const element of entry.elements) {
      element.style.opacity = String(opacity);
      // NOTE: OpenSeadragon sets its overlays' display on every redraw; a class with !important wins.
      element.classList.toggle("layer-hidden", !entry.visible);
    }
  }

  function draw(entry) {
    const layer = entry.layer;
    entry.drawn = true;  // once: an image layer's item arrives later, asynchronously
    if (layer.kind === "image") {
      state.viewer.addTiledImage({
        tileSource: { type: "image", url: layer.url, buildPyramid: false },
        x: 0, y: 0, width: layer.width, opacity: 0,
        success: (event) => { entry.item = event.item; apply(entry); },
      });
      return;
    }
    const [width, height] = state.slide.dimensions;
    const rects = layer.shapes.filter((shape) => shape.type === "rect");
    for (const shape of rects) {
      const box = el("div", { class: "region-box", style: `border-color:${layer.colour}` });
      const label = el("div", { class: "region-label", style: `background:${layer.colour}`, text: shape.label });
      const rect = new OpenSeadragon.Rect(shape.x / width, shape.y / width, shape.w / width, shape.h / width);
      state.viewer.addOverlay({ element: box, location: rect });
      state.viewer.addOverlay({ element: label, location: new OpenSeadragon.Point(shape.x / width, shape.y / width),
                                placement: OpenSeadragon.Placement.BOTTOM_LEFT });
      entry.elements.push(box, label);
    }
    const others = layer.shapes.filter((shape) => shape.type !== "rect");
    if (others.length) {
      const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none",
                                   class: "shape-layer" });
      for (const shape of others) drawing.append(shapeElement(shape, layer.colour, width));
      state.viewer.addOverlay({ element: drawing, location: new OpenSeadragon.Rect(0, 0, 1, height / width) });
      entry.elements.push(drawing);
    }
  }

  function shapeElement(shape, colour, width) {
    const style = { fill: "none", stroke: colour, "stroke-width": "2", "vector-effect": "non-scaling-stroke" };
    let node;
    if (shape.type === "polygon") {
      const d = shape.rings.map((ring) => "M" + ring.map((p) => p[0] + " " + p[1]).join("L") + "Z").join(" ");
      node = svg("path", { d, "fill-rule": "evenodd", ...style });
    } else if (shape.type === "line") {
      node = svg("polyline", { points: shape.points.map((p) => p[0] + "," + p[1]).join(" "), ...style });
    } else {
      node = svg("circle", { cx: shape.x, cy: shape.y, r: width / 400, ...style, fill: colour });
    }
    if (shape.label) {
      const title = svg("title");
      title.textContent = shape.label;
      node.append(title);
    }
    return node;
  }

  createViewer();
  listSlides().catch((error) => showMessage("The viewer could not list its slides: " + error));
})();
