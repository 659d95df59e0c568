// facegraft review page: look through a shot's faces and fix them by hand. Plain script, no libraries.
// Every edit goes to the engine service as one request naming the revision of each face it touches; the
// service refuses (409) an edit to a face that changed since this page loaded it, and the page says so.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const shot = decodeURIComponent(location.pathname.replace(/^\/review/, ""));
  const $ = (id) => document.getElementById(id);
  // Landmark runs drawn as outlines: [first, last, closed] (iBUG 68-point layout).
  const PARTS = [[0, 16, false], [17, 21, false], [22, 26, false], [27, 30, false], [31, 35, false],
    [36, 41, true], [42, 47, true], [48, 59, true], [60, 67, true]];
  const MASK = "label";
  // What a face flag means, said on the frame view and in the panel (flags from extraction).
  const NOT_TARGET = "not-target";  // kept in the store, skipped by training and convert
  const FLAG_TEXT = { "landmarks-unreliable": "landmarks unreliable", [NOT_TARGET]: "not the target" };
  const flagText = (flags) => flags.map((f) => FLAG_TEXT[f] || f).join(", ");
  const dropped = (f) => f.flags.includes(NOT_TARGET);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const state = {
    summary: null, frame: null, current: null, selected: null, mode: "select", zoom: false,
    groups: [], persons: [], by: "identity", busy: 0, drag: null, stroke: null, brush: { radius: 16, include: false },
    mask: { face: null, revision: null, image: null, pixels: null },
  };

  // User actions (keys, clicks, drags) run one after another, each once the one before has finished (its
  // frame loaded, its edit stored), so fast input acts on what the page will show, not on what it showed.
  let actions = Promise.resolve();
  const act = (fn) => {
    actions = actions.then(fn).catch((err) => say(`Not done: ${err.message}`, "error"));
    return actions;
  };

  // -- talking to the service -------------------------------------------------------------------------
  const url = (path, params = {}) => `/v1/review/${path}?${new URLSearchParams({ shot, ...params })}`;

  function busy(delta) {
    state.busy += delta;
    document.body.dataset.busy = String(state.busy);
  }

  async function api(method, path, params = {}, body = undefined) {
    busy(1);
    try {
      const res = await fetch(url(path, params), {
        method, credentials: "same-origin",
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) {
        const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : "";
        const err = new Error(data.error || detail || `${res.status} ${res.statusText}`);
        err.status = res.status;
        err.data = data;
        throw err;
      }
      return data;
    } finally {
      busy(-1);
    }
  }

  function say(text, kind = "info") {
    const box = $("message");
    box.textContent = text;
    box.className = kind;
    box.hidden = false;
  }

  function conflictText(err) {
    const c = err.data && err.data.conflict;
    const now = c && (c.current === null ? "has been removed" : `is now at revision ${c.current}`);
    const what = c ? `face ${c.face} was changed elsewhere (another tab or tool): it ${now}, and this edit `
      + `was made against revision ${c.expected}` : err.message;
    return `Conflict: ${what}. Nothing was changed; the page now shows the current state.`;
  }

  async function failed(err) {
    if (err.status === 409) {
      say(conflictText(err), "conflict");
      await refresh();
    } else {
      say(`Not done: ${err.message}`, "error");
    }
  }

  async function edit(body) {
    try {
      const done = await api("POST", "edit", {}, body);
      say(done.message, "ok");
      await refresh({ people: done.kind !== "accept" });
      return done;
    } catch (err) {
      await failed(err);
      return null;
    }
  }

  async function undo() {
    const last = state.summary && state.summary.last_edit;
    if (!last) {
      say("Nothing to undo.");
      return;
    }
    try {
      const done = await api("POST", "undo", {}, { edit: last.id });
      say(done.message, "ok");
      await refresh();
    } catch (err) {
      await failed(err);
    }
  }

  // -- loading ----------------------------------------------------------------------------------------
  async function loadSummary() {
    state.summary = await api("GET", "shot");
    const frames = state.summary.frames.map((f) => f.frame);
    if (!frames.includes(state.current)) state.current = frames.length ? frames[0] : null;
    drawHeader();
    drawTimeline();
  }

  async function loadFrame() {
    if (state.current === null) return;
    state.frame = await api("GET", "frame", { frame: state.current });
    if (!face(state.selected)) state.selected = null;
    history.replaceState(null, "", `#frame=${state.current}`);
    drawFrame();
    drawPanel();
  }

  async function loadPeople() {
    const data = await api("GET", "faces");
    state.groups = data.groups;
    state.persons = data.persons || [];
    state.by = data.by || "identity";
    drawPeople();
  }

  async function refresh({ people = true } = {}) {
    await loadSummary();
    await loadFrame();
    if (people) await loadPeople();
  }

  async function go(frame, faceId = null) {
    state.current = frame;
    state.selected = faceId;
    drawTimeline();
    await loadFrame();
    drawPeopleSelection();
  }

  // -- header and timeline ----------------------------------------------------------------------------
  function summaryFrame(n) {
    return state.summary.frames.find((f) => f.frame === n);
  }

  function isProblem(f) {
    return !f.reviewed && (f.no_face || f.multi_face || f.low_confidence || f.flagged > 0);
  }

  function drawHeader() {
    const s = state.summary;
    const m = s.markers;
    document.title = `${s.name} - facegraft review`;
    $("title").textContent = s.name;
    $("counts").textContent = `${s.frames.length} frames · ${m.no_face.length} without a face · `
      + `${m.multi_face.length} with several · ${m.low_confidence.length} low confidence · `
      + `${m.flagged.length} with flagged faces · ${s.shots} shot${s.shots === 1 ? "" : "s"} · `
      + `${s.reviewed.length} accepted`
      + `${s.persons ? ` · ${plural(s.persons, "person")}` : ""}`
      + `${m.not_target && m.not_target.length ? ` · ${m.not_target.length} with faces not the target` : ""}`;
    $("undo").disabled = !s.last_edit;
    $("undo").title = s.last_edit ? `Undo edit ${s.last_edit.id} (${s.last_edit.kind}) (Ctrl+Z)` : "Nothing to undo";
  }

  function drawTimeline() {
    const line = $("timeline");
    line.replaceChildren();
    state.summary.frames.forEach((f, i) => {
      const cut = f.cut && i > 0;  // a shot boundary just before this frame (the first frame starts one anyway)
      const tick = document.createElement("button");
      tick.type = "button";
      tick.className = "tick";
      tick.tabIndex = -1;
      tick.dataset.frame = f.frame;
      const marks = [];
      if (f.no_face) marks.push("no face");
      if (f.multi_face) marks.push("several faces");
      if (f.low_confidence) marks.push("low confidence");
      if (f.flagged) marks.push(`${f.flagged} flagged face${f.flagged === 1 ? "" : "s"}`);
      if (f.not_target) marks.push(`${f.not_target} not the target`);
      if (cut) marks.push("hard cut before it: a new shot starts");
      if (f.reviewed) marks.push("accepted");
      for (const [flag, cls] of [[f.no_face, "no-face"], [f.multi_face, "multi-face"],
        [f.low_confidence, "low-confidence"], [f.flagged > 0, "flagged"], [cut, "cut"], [f.reviewed, "reviewed"],
        [f.frame === state.current, "current"]]) {
        if (flag) tick.classList.add(cls);
      }
      tick.title = `frame ${f.frame}: ${f.faces} face${f.faces === 1 ? "" : "s"}${marks.length ? ` (${marks.join(", ")})` : ""}`;
      tick.addEventListener("click", () => { tick.blur(); act(() => go(f.frame)); });
      line.append(tick);
    });
    const f = state.current === null ? null : summaryFrame(state.current);
    const position = state.summary.frames.indexOf(f) + 1;
    $("frame-label").textContent = f ? `Frame ${f.frame} (${position} of ${state.summary.frames.length})` : "";
  }

  async function step(delta) {
    const frames = state.summary.frames.map((f) => f.frame);
    const i = frames.indexOf(state.current) + delta;
    if (i >= 0 && i < frames.length) await go(frames[i]);
  }

  async function problem(direction) {
    const list = state.summary.frames.filter(isProblem).map((f) => f.frame);
    const next = direction > 0 ? list.find((n) => n > state.current) : list.reverse().find((n) => n < state.current);
    if (next === undefined) say(`No problem frame ${direction > 0 ? "after" : "before"} frame ${state.current}.`);
    else await go(next);
  }

  // -- the frame view ---------------------------------------------------------------------------------
  const svg = $("frame-view");

  function face(id) {
    return state.frame && state.frame.faces.find((f) => f.id === id);
  }

  function ref(f) {
    return { id: f.id, revision: f.revision };
  }

  function el(name, attrs = {}, parent = null) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.append(node);
    return node;
  }

  function viewBox() {
    const f = state.frame;
    const sel = face(state.selected);
    if (!state.zoom || !sel) return [0, 0, f.width, f.height];
    const [x0, y0, x1, y1] = sel.box;
    const side = 2.4 * Math.max(x1 - x0, y1 - y0);
    return [(x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2, side, side];
  }

  function unitsPerPixel() {
    const ctm = svg.getScreenCTM();
    return ctm && ctm.a > 0 ? 1 / ctm.a : 1;
  }

  function plateXY(event) {
    const p = svg.createSVGPoint();
    p.x = event.clientX;
    p.y = event.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }

  function drawFrame() {
    const f = state.frame;
    svg.dataset.frame = f.frame;
    svg.setAttribute("viewBox", viewBox().join(" "));
    const plate = $("plate");
    plate.setAttribute("width", f.width);
    plate.setAttribute("height", f.height);
    const href = url("frame/image", { frame: f.frame });
    if (plate.getAttribute("href") !== href) plate.setAttribute("href", href);
    const k = unitsPerPixel();
    const layer = $("faces");
    layer.replaceChildren();
    // Faces marked not the target first (under the others): a dashed box to select them by, no landmarks.
    for (const fc of f.faces.filter(dropped)) {
      const [x0, y0, x1, y1] = fc.box;
      const g = el("g", { class: `dropped${fc.id === state.selected ? " selected" : ""}`, "data-face-id": fc.id,
        "data-revision": fc.revision, "data-index": fc.index }, layer);
      el("rect", { class: "dropped-box", x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, g);
      const tag = el("text", { class: "dropped-tag", x: x0, y: y0 - 5 * k, "font-size": 12 * k }, g);
      tag.textContent = `id ${fc.id} · not the target${personOf(fc) ? ` · ${personOf(fc)}` : ""}`;
    }
    for (const fc of f.faces.filter((x) => !dropped(x))) {
      const [x0, y0, x1, y1] = fc.box;
      const flagged = fc.flags.length > 0;
      const g = el("g", { class: `face${fc.id === state.selected ? " selected" : ""}${flagged ? " flagged" : ""}`,
        "data-face-id": fc.id, "data-revision": fc.revision, "data-index": fc.index, "data-flags": fc.flags.join(",") },
      layer);
      el("rect", { class: "hit", x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, g);
      el("rect", { class: "box", x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, g);
      for (const [a, b, closed] of PARTS) {
        const pts = fc.landmarks.slice(a, b + 1).map(([x, y]) => `${x},${y}`).join(" ");
        el(closed ? "polygon" : "polyline", { class: "outline", points: pts }, g);
      }
      fc.landmarks.forEach(([x, y], i) => el("circle", { class: "lm", cx: x, cy: y, r: 3 * k, "data-point": i }, g));
      el("rect", { class: "handle", x: x1 - 5 * k, y: y1 - 5 * k, width: 10 * k, height: 10 * k }, g);
      const tag = el("text", { class: "tag", x: x0, y: y0 - 5 * k, "font-size": 12 * k }, g);
      tag.textContent = `#${fc.index} id ${fc.id} · ${fc.score.toFixed(2)}${personOf(fc) ? ` · ${personOf(fc)}` : ""}`;
      if (flagged) {
        const badge = el("text", { class: "flag-badge", x: x0, y: y1 + 15 * k, "font-size": 12 * k }, g);
        badge.textContent = `⚠ ${flagText(fc.flags)} (${fc.landmark_confidence.toFixed(2)})`;
      }
    }
    svg.classList.toggle("adding", state.mode === "add");
  }

  function select(id) {
    state.selected = id;
    for (const g of $("faces").children) g.classList.toggle("selected", Number(g.dataset.faceId) === id);
    if (state.zoom) drawFrame();
    drawPanel();
    drawPeopleSelection();
  }

  function setBox(g, box) {
    const [x0, y0, x1, y1] = box;
    for (const r of g.querySelectorAll("rect.hit, rect.box")) {
      r.setAttribute("x", Math.min(x0, x1));
      r.setAttribute("y", Math.min(y0, y1));
      r.setAttribute("width", Math.abs(x1 - x0));
      r.setAttribute("height", Math.abs(y1 - y0));
    }
  }

  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || !state.frame) return;
    const start = plateXY(event);
    const target = event.target;
    const g = target.closest && target.closest("g.face");
    const fc = g ? face(Number(g.dataset.faceId)) : null;
    const gone = state.mode !== "add" && target.closest && target.closest("g.dropped");
    if (gone) {  // a face marked not the target: selected (to look at, or take back), never dragged
      select(Number(gone.dataset.faceId));
      event.preventDefault();
      return;
    }
    if (state.mode === "add") {
      state.drag = { kind: "draw", start, end: start };
    } else if (fc && target.classList.contains("lm")) {
      const point = Number(target.dataset.point);
      select(fc.id);
      const node = $("faces").querySelector(`g[data-face-id="${fc.id}"] circle[data-point="${point}"]`);
      node.classList.add("dragging");
      state.drag = { kind: "point", face: fc, point, start, origin: fc.landmarks[point].slice(), node, moved: false };
    } else if (fc) {
      select(fc.id);
      const kind = target.classList.contains("handle") ? "resize" : "move";
      const node = $("faces").querySelector(`g[data-face-id="${fc.id}"]`);
      state.drag = { kind, face: fc, start, box: fc.box.slice(), node, moved: false };
    } else {
      select(null);
      return;
    }
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  });

  svg.addEventListener("pointermove", (event) => {
    const d = state.drag;
    if (!d) return;
    const p = plateXY(event);
    const dx = p.x - d.start.x;
    const dy = p.y - d.start.y;
    d.moved = d.moved || Math.hypot(dx, dy) / unitsPerPixel() >= 1;
    if (d.kind === "point") {
      d.node.setAttribute("cx", d.origin[0] + dx);
      d.node.setAttribute("cy", d.origin[1] + dy);
    } else if (d.kind === "move") {
      setBox(d.node, [d.box[0] + dx, d.box[1] + dy, d.box[2] + dx, d.box[3] + dy]);
    } else if (d.kind === "resize") {
      setBox(d.node, [d.box[0], d.box[1], d.box[2] + dx, d.box[3] + dy]);
    } else {
      d.end = p;
      const draft = $("draft");
      draft.setAttribute("x", Math.min(d.start.x, p.x));
      draft.setAttribute("y", Math.min(d.start.y, p.y));
      draft.setAttribute("width", Math.abs(p.x - d.start.x));
      draft.setAttribute("height", Math.abs(p.y - d.start.y));
      draft.setAttribute("visibility", "visible");
    }
  });

  function endDrag(event) {
    const d = state.drag;
    if (!d) return;
    state.drag = null;
    const p = plateXY(event);
    const dx = p.x - d.start.x;
    const dy = p.y - d.start.y;
    if (d.kind === "draw") {
      $("draft").setAttribute("visibility", "hidden");
      setMode("select");
      const box = [Math.min(d.start.x, p.x), Math.min(d.start.y, p.y), Math.max(d.start.x, p.x), Math.max(d.start.y, p.y)];
      if (box[2] - box[0] < 8 || box[3] - box[1] < 8) {
        say("Draw a box around the whole face (drag from one corner to the other).");
        return;
      }
      act(() => edit({ kind: "add", frame: state.frame.frame, box }));
    } else if (!d.moved) {
      if (d.node && d.node.classList) d.node.classList.remove("dragging");
    } else if (d.kind === "point") {
      const moved = { kind: "landmark", face: ref(d.face), point: d.point, x: d.origin[0] + dx, y: d.origin[1] + dy };
      act(() => edit(moved));
    } else {
      const box = d.kind === "move" ? [d.box[0] + dx, d.box[1] + dy, d.box[2] + dx, d.box[3] + dy]
        : [d.box[0], d.box[1], d.box[2] + dx, d.box[3] + dy];
      const sorted = [Math.min(box[0], box[2]), Math.min(box[1], box[3]), Math.max(box[0], box[2]),
        Math.max(box[1], box[3])];
      act(() => edit({ kind: "box", face: ref(d.face), box: sorted }));
    }
  }

  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", () => {
    state.drag = null;
    if (state.frame) drawFrame();
  });

  function setMode(mode) {
    state.mode = mode;
    $("add-face").classList.toggle("on", mode === "add");
    svg.classList.toggle("adding", mode === "add");
  }

  // -- the side panel: the selected face, its actions and its mask ------------------------------------
  function groupOf(id) {
    return state.groups.find((g) => g.faces.some((f) => f.id === id));
  }

  function personOf(fc) {
    const p = fc.person_id === null || fc.person_id === undefined ? null
      : state.persons.find((x) => x.id === fc.person_id);
    return p ? p.label : null;
  }

  function liveFaces(group) {
    return group ? group.faces.filter((f) => !dropped(f)) : [];
  }

  function drawPanel() {
    const fc = face(state.selected);
    const gone = !!fc && dropped(fc);
    for (const id of ["delete", "not-target", "drop-person", "turn-90", "turn-180", "turn-270", "zoom"]) {
      $(id).disabled = !fc;
    }
    for (const id of ["not-target", "turn-90", "turn-180", "turn-270"]) $(id).disabled = !fc || gone;
    $("not-target").hidden = gone;
    $("restore-target").hidden = !gone;
    $("restore-target").disabled = !gone;
    $("accept").disabled = !state.frame;
    const group = fc && groupOf(fc.id);
    const live = liveFaces(group);
    let person;
    if (state.by === "person") {
      person = personOf(fc || { person_id: null });
      person = person ? `${person} (${plural(group ? group.faces.length : 0, "face")})` : "no person";
    } else {
      person = group && group.label !== null ? `person ${group.label + 1} (${group.faces.length} faces)` : "no identity";
    }
    $("drop-person").textContent = group ? `Drop this person (${live.length})` : "Drop this person";
    $("drop-person").disabled = !group || !live.length;
    drawPersonChooser(fc);
    $("face-info").textContent = fc
      ? `Face ${fc.id} · frame ${fc.frame} · #${fc.index} · score ${fc.score.toFixed(2)} · yaw ${fc.pose[0].toFixed(0)}° · `
        + `${person} · landmark confidence ${fc.landmark_confidence.toFixed(2)}`
        + `${fc.flags.length ? ` · ⚠ ${flagText(fc.flags)}` : ""} · revision ${fc.revision}`
        + `${gone ? " · kept in the store, skipped by training and convert (Target after all takes it back)" : ""}`
      : state.frame && state.frame.faces.length ? "Click a face to select it (Tab: next face)."
        : "No face in this frame: press B and draw a box around a face the detector missed.";
    loadMask(fc);
  }

  const canvas = $("mask-canvas");
  const ctx = canvas.getContext("2d");

  function loadImage(src) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`could not load ${src}`));
      img.src = src;
    });
  }

  async function loadMask(fc) {
    if (!fc) {
      state.mask = { face: null, revision: null, image: null, pixels: null };
      canvas.dataset.faceId = "";
      canvas.dataset.revision = "";
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    if (state.mask.face === fc.id && state.mask.revision === fc.revision) return;
    busy(1);
    try {
      const params = { face: fc.id, rev: fc.revision };
      const [image, mask] = await Promise.all([
        loadImage(url("face/image", { ...params, size: fc.size })),
        loadImage(url("face/mask", { ...params, name: MASK })),
      ]);
      if (state.selected !== fc.id) return;  // another face was chosen while this one loaded
      canvas.width = fc.size;
      canvas.height = fc.size;
      ctx.drawImage(mask, 0, 0, fc.size, fc.size);
      const pixels = ctx.getImageData(0, 0, fc.size, fc.size);
      state.mask = { face: fc.id, revision: fc.revision, image, pixels };
      canvas.dataset.faceId = fc.id;
      canvas.dataset.revision = fc.revision;
      drawMask();
    } catch (err) {
      say(`The mask could not be shown: ${err.message}`, "error");
    } finally {
      busy(-1);
    }
  }

  function drawMask() {
    const { image, pixels } = state.mask;
    if (!image) return;
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    const tint = ctx.createImageData(pixels.width, pixels.height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      if (pixels.data[i] < 128) {  // outside the mask: shown red
        tint.data[i] = 255;
        tint.data[i + 3] = 120;
      }
    }
    const layer = document.createElement("canvas");
    layer.width = pixels.width;
    layer.height = pixels.height;
    layer.getContext("2d").putImageData(tint, 0, 0);
    ctx.drawImage(layer, 0, 0);
  }

  function cropXY(event) {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * canvas.width / rect.width, (event.clientY - rect.top) * canvas.height / rect.height];
  }

  function brushPx() {
    return state.brush.radius * canvas.width / canvas.getBoundingClientRect().width;
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || !state.mask.image) return;
    state.stroke = [cropXY(event)];
    canvas.setPointerCapture(event.pointerId);
    paintPreview();
    event.preventDefault();
  });

  canvas.addEventListener("pointermove", (event) => {
    if (!state.stroke) return;
    state.stroke.push(cropXY(event));
    paintPreview();
  });

  canvas.addEventListener("pointerup", () => {
    const stroke = state.stroke;
    state.stroke = null;
    const fc = face(state.mask.face);
    if (!stroke || !fc) return;
    const painted = { kind: "mask", face: ref(fc), name: MASK, mode: state.brush.include ? "include" : "exclude",
      radius: brushPx(), points: stroke };
    act(() => edit(painted));
  });

  function paintPreview() {
    const pts = state.stroke;
    ctx.strokeStyle = ctx.fillStyle = state.brush.include ? "rgba(80, 255, 140, .6)" : "rgba(255, 40, 40, .6)";
    ctx.lineWidth = 2 * brushPx();
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (const [x, y] of pts) ctx.lineTo(x, y);
    ctx.stroke();
  }

  function setBrush(include) {
    state.brush.include = include;
    $("brush-include").classList.toggle("on", include);
    $("brush-exclude").classList.toggle("on", !include);
  }

  function setRadius(px) {
    state.brush.radius = Math.max(2, Math.min(96, px));
    $("brush-radius").value = state.brush.radius;
  }

  // -- the person of the selected face ----------------------------------------------------------------
  function drawPersonChooser(fc) {
    const chooser = $("face-person");
    const grouped = state.by === "person";
    chooser.replaceChildren();
    const choices = [...state.persons.map((p) => [String(p.id), `${p.label} (${plural(p.faces, "face")})`]),
      ["new", "a new person"], ["none", "no person"]];
    for (const [value, text] of choices) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      chooser.append(option);
    }
    chooser.value = fc && fc.person_id !== null && fc.person_id !== undefined ? String(fc.person_id) : "none";
    chooser.disabled = !fc || !grouped;
    $("reassign").disabled = !fc || !grouped;
    $("person-info").textContent = grouped
      ? `${plural(state.persons.length, "person")} in this shot: move the selected face to another one here; `
        + "rename, merge or drop persons below."
      : "The shot's faces are not grouped into persons (facegraft alignments persons SHOTDIR); below they are "
        + "grouped by identity.";
  }

  // -- people: the faces grouped by person (stored persons, or identity clusters) ---------------------
  function framesText(ranges) {
    const runs = ranges.map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`));
    return runs.length > 6 ? `${runs.slice(0, 6).join(", ")}, … (${runs.length} runs)` : runs.join(", ");
  }

  function control(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    return node;
  }

  function personHead(p, head) {
    if (p.thumb) {
      const img = control("img", { class: "person-thumb", alt: `${p.label}`, "data-face-id": p.thumb.id });
      img.src = url("face/image", { face: p.thumb.id, size: 64, rev: p.thumb.revision });
      img.title = `${p.label}: face ${p.thumb.id}, frame ${p.thumb.frame} (click to go there)`;
      img.addEventListener("click", () => act(() => go(p.thumb.frame, p.thumb.id)));
      head.append(img);
    }
    const gone = p.faces - p.targets;
    head.append(control("span", { class: "person-label" }, p.label),
      control("span", { class: "person-counts" }, `${plural(p.faces, "face")}${gone ? ` (${gone} not the target)` : ""}`
        + `${p.ranges.length ? ` · frames ${framesText(p.ranges)}` : ""}`
        + `${p.shots.length ? ` · shot${p.shots.length === 1 ? "" : "s"} ${p.shots.map((i) => i + 1).join(", ")}` : ""}`));
  }

  function personTools(p) {
    const tools = control("div", { class: "person-tools" });
    const form = control("form", { class: "rename", "data-person": p.id });
    const name = control("input", { type: "text", class: "person-name", maxlength: "40", spellcheck: "false",
      autocomplete: "off", placeholder: `person${p.id}`, "aria-label": `Name of ${p.label}` });
    name.value = p.name;
    form.append(name, control("button", { type: "submit", class: "rename-button",
      title: "A letter, then up to 39 letters, digits, _ or - (empty: no name)" }, "Rename"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(() => edit({ kind: "person-name", person: p.id, name: name.value.trim(), was: p.name }));
    });
    const others = state.persons.filter((o) => o.id !== p.id);
    const from = control("select", { class: "merge-from", "aria-label": `A person to merge into ${p.label}` });
    from.append(control("option", { value: "" }, "Merge in…"));
    for (const o of others) from.append(control("option", { value: String(o.id) }, `${o.label} (${plural(o.faces, "face")})`));
    const merge = control("button", { type: "button", class: "merge",
      title: `Every face of the chosen person becomes ${p.label}'s; the chosen person goes (Undo brings it back)` },
    "Merge");
    from.disabled = merge.disabled = !others.length;
    merge.addEventListener("click", () => act(() => mergeInto(p.id, from.value)));
    tools.append(form, from, merge);
    return tools;
  }

  function drawPeople() {
    const root = $("people");
    root.replaceChildren();
    state.groups.forEach((group) => {
      const section = document.createElement("section");
      section.className = "group";
      section.dataset.label = group.label === null ? "none" : group.label;
      if (group.person) section.dataset.person = group.person.id;
      const head = document.createElement("h2");
      const n = group.faces.length;
      const live = liveFaces(group);
      if (group.person) personHead(group.person, head);
      else if (state.by === "person") head.textContent = `No person · ${plural(n, "face")}`;
      else head.textContent = group.label === null ? `No identity · ${n} faces` : `Person ${group.label + 1} · ${n} face${n === 1 ? "" : "s"}`;
      const drop = document.createElement("button");
      drop.type = "button";
      drop.className = "drop";
      drop.textContent = live.length ? `Not the target: drop ${live.length === 1 ? "this face" : `these ${live.length} faces`}`
        : "Not the target: all dropped";
      drop.disabled = !live.length;
      drop.addEventListener("click", () => act(() => edit({ kind: "not-target", faces: live.map(ref) })));
      head.append(drop);
      section.append(head);
      if (group.person) section.append(personTools(group.person));
      const thumbs = document.createElement("div");
      thumbs.className = "thumbs";
      for (const f of group.faces) {
        const img = document.createElement("img");
        img.className = "thumb";
        img.loading = "lazy";
        img.alt = `face ${f.id}, frame ${f.frame}`;
        img.title = `face ${f.id} · frame ${f.frame} · score ${f.score}${f.flags.length ? ` · ${flagText(f.flags)}` : ""}`;
        img.classList.toggle("flagged", f.flags.length > 0);
        img.classList.toggle("dropped", dropped(f));
        img.dataset.faceId = f.id;
        img.dataset.frame = f.frame;
        img.src = url("face/image", { face: f.id, size: 96, rev: f.revision });
        img.addEventListener("click", () => act(() => go(f.frame, f.id)));
        thumbs.append(img);
      }
      section.append(thumbs);
      root.append(section);
    });
    drawPeopleSelection();
    drawPanel();
  }

  function drawPeopleSelection() {
    for (const img of document.querySelectorAll("#people .thumb")) {
      img.classList.toggle("selected", Number(img.dataset.faceId) === state.selected);
      img.classList.toggle("in-frame", Number(img.dataset.frame) === state.current);
    }
  }

  // -- actions ----------------------------------------------------------------------------------------
  function selectedOrSay() {
    const fc = face(state.selected);
    if (!fc) say("Select a face first (click it, or Tab).");
    return fc;
  }

  async function deleteSelected(kind = "delete") {
    const fc = selectedOrSay();
    if (fc) await edit({ kind, faces: [ref(fc)] });
  }

  async function dropPerson() {
    const fc = selectedOrSay();
    const live = liveFaces(fc && groupOf(fc.id));
    if (live.length) await edit({ kind: "not-target", faces: live.map(ref) });
  }

  async function toggleTarget() {
    const fc = selectedOrSay();
    if (fc) await edit({ kind: dropped(fc) ? "target" : "not-target", faces: [ref(fc)] });
  }

  async function reassign() {
    const fc = selectedOrSay();
    if (!fc) return;
    const value = $("face-person").value;
    const person = value === "new" ? "new" : value === "none" ? null : Number(value);
    if (person === (fc.person_id === undefined ? null : fc.person_id)) {
      say(`Face ${fc.id} already belongs to ${personOf(fc) || "no person"}: choose another person first.`);
      return;
    }
    await edit({ kind: "person", face: ref(fc), person });
  }

  async function mergeInto(into, value) {
    const group = value === "" ? null : state.groups.find((g) => g.person && g.person.id === Number(value));
    if (!group) {
      say("Choose the person to merge in first.");
      return;
    }
    await edit({ kind: "merge-persons", into, person: group.person.id, faces: group.faces.map(ref) });
  }

  async function turn(degrees) {
    const fc = selectedOrSay();
    if (fc) await edit({ kind: "turn", face: ref(fc), degrees });
  }

  async function accept() {
    if (!state.frame) return;
    const done = await edit({ kind: "accept", frames: [state.frame.frame] });
    if (done) await problem(1);
  }

  function nextFace() {
    const faces = state.frame ? state.frame.faces.filter((f) => !dropped(f)) : [];
    if (!faces.length) return;
    const i = faces.findIndex((f) => f.id === state.selected);
    select(faces[(i + 1) % faces.length].id);
  }

  function toggleZoom() {
    state.zoom = !state.zoom && !!face(state.selected);
    $("zoom").classList.toggle("on", state.zoom);
    drawFrame();
  }

  $("undo").addEventListener("click", () => act(undo));
  $("delete").addEventListener("click", () => act(() => deleteSelected()));
  $("not-target").addEventListener("click", () => act(() => deleteSelected("not-target")));
  $("drop-person").addEventListener("click", () => act(dropPerson));
  $("restore-target").addEventListener("click", () => act(toggleTarget));
  $("reassign").addEventListener("click", () => act(reassign));
  for (const id of ["turn-90", "turn-180", "turn-270"]) {
    $(id).addEventListener("click", () => act(() => turn(Number($(id).dataset.degrees))));
  }
  $("add-face").addEventListener("click", () => setMode(state.mode === "add" ? "select" : "add"));
  $("zoom").addEventListener("click", () => act(toggleZoom));
  $("accept").addEventListener("click", () => act(accept));
  $("brush-include").addEventListener("click", () => setBrush(true));
  $("brush-exclude").addEventListener("click", () => setBrush(false));
  $("brush-radius").addEventListener("input", (e) => setRadius(Number(e.target.value)));
  window.addEventListener("resize", () => state.frame && drawFrame());

  const KEYS = {
    ArrowRight: (e) => (e.shiftKey ? problem(1) : step(1)),
    ArrowLeft: (e) => (e.shiftKey ? problem(-1) : step(-1)),
    n: () => problem(1),
    p: () => problem(-1),
    Delete: () => deleteSelected(),
    Backspace: () => deleteSelected(),
    a: () => accept(),
    x: () => toggleTarget(),
    b: () => setMode(state.mode === "add" ? "select" : "add"),
    r: () => turn(180),
    z: () => toggleZoom(),
    u: () => undo(),
    i: () => setBrush(true),
    e: () => setBrush(false),
    "[": () => setRadius(state.brush.radius - 2),
    "]": () => setRadius(state.brush.radius + 2),
    Tab: () => nextFace(),
    Escape: () => { setMode("select"); select(null); },
  };

  document.addEventListener("keydown", (event) => {
    if (event.target.matches && event.target.matches("input[type=text], textarea, select")) return;
    const undoKey = (event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z";
    if (!undoKey && (event.ctrlKey || event.metaKey || event.altKey || !state.summary)) return;
    const action = undoKey ? undo : KEYS[event.key] || KEYS[event.key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    act(() => action(event));
  });

  // -- start --------------------------------------------------------------------------------------------
  async function start() {
    setBrush(false);
    const wanted = Number((location.hash.match(/frame=(-?\d+)/) || [])[1]);
    try {
      await loadSummary();
      if (Number.isFinite(wanted) && summaryFrame(wanted)) state.current = wanted;
      drawTimeline();
      await loadFrame();
      await loadPeople();
      if (!state.summary.frames.length) say("This shot has no frames yet: run extract first.");
    } catch (err) {
      say(`The shot could not be opened: ${err.message}`, "error");
    }
    document.body.dataset.ready = "1";
  }

  start();
})();
