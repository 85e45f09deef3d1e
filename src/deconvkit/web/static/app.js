// deconvkit web page: everything it offers comes from GET /api/methods (the library's registries).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  catalog: null,
  image: null,          // {image_id, width, height, format, bit_depth, ...} from POST /api/images
  psfValues: {},        // model name -> {param: value}
  psfFile: null,        // Blob: an uploaded PSF file
  estimated: null,      // Blob: the last blind estimate (float TIFF)
  method: "auto",
  offset: null,         // method slider position; null = let the method choose
  autoValue: {},        // method -> the value it chose itself in the last preview
  loupe: { x: 0, y: 0 },
  job: null,            // id of the running job
  previewBusy: false,
  previewAgain: false,
  previewTimer: null,
  thumbTimer: null,
};

// ---- helpers -------------------------------------------------------------------------------------

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body.detail) detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) { /* not JSON */ }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response;
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

function clearError() { $("error").hidden = true; }

function debounce(timerName, delay, fn) {
  clearTimeout(state[timerName]);
  state[timerName] = setTimeout(fn, delay);
}

function fmt(value) {
  if (typeof value !== "number") return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e4)) return value.toExponential(2);
  return String(Math.round(value * 1000) / 1000);
}

function methodSpec(name) { return state.catalog.methods.find((m) => m.name === name); }
function psfModel(name) { return state.catalog.psf_models.find((m) => m.name === name); }

// ---- PSF -----------------------------------------------------------------------------------------

function psfMode() { return $("psf-model").value; }

function psfSpec() {
  const model = psfModel(psfMode());
  if (!model) return null;
  const values = state.psfValues[model.name];
  return model.name + ":" + model.sliders.map((s) => `${s.name}=${values[s.name]}`).join(",");
}

// Adds the PSF to a request; false when there is none (blind).
function addPsf(form) {
  const mode = psfMode();
  if (mode === "file") {
    if (!state.psfFile) return false;
    form.append("psf_file", state.psfFile, "psf");
  } else if (mode === "estimated") {
    form.append("psf_file", state.estimated, "psf.tif");
  } else if (mode === "blind") {
    return false;
  } else {
    form.append("psf", psfSpec());
  }
  return true;
}

function buildPsfSliders() {
  const box = $("psf-sliders");
  box.textContent = "";
  const mode = psfMode();
  $("psf-file-row").hidden = mode !== "file";
  const model = psfModel(mode);
  if (!model) return;
  const values = state.psfValues[model.name];
  for (const s of model.sliders) {
    const row = document.createElement("div");
    row.className = "slider";
    const label = document.createElement("label");
    label.textContent = s.name;
    label.title = s.help;
    label.htmlFor = `psf-param-${s.name}`;
    const input = document.createElement("input");
    Object.assign(input, { type: "range", id: `psf-param-${s.name}`, min: s.min, step: s.step,
                           max: Math.max(s.max, values[s.name]), value: values[s.name] });
    input.dataset.param = s.name;
    const out = document.createElement("output");
    out.id = `psf-param-${s.name}-value`;
    out.textContent = fmt(values[s.name]);
    input.addEventListener("input", () => {
      values[s.name] = Number(input.value);
      out.textContent = fmt(values[s.name]);
      psfChanged();
    });
    row.append(label, input, out);
    box.append(row);
  }
}

function psfChanged() {
  debounce("thumbTimer", 120, updatePsfThumb);
  schedulePreview();
}

async function updatePsfThumb() {
  const form = new FormData();
  if (!addPsf(form)) {
    $("psf-thumb").removeAttribute("src");
    $("psf-label").textContent = psfMode() === "blind" ? "estimated during the full run" : "choose a PSF file";
    return;
  }
  try {
    const body = await (await api("/api/psf", { method: "POST", body: form })).json();
    $("psf-thumb").src = body.image;
    $("psf-label").textContent = `${body.shape[1]}×${body.shape[0]} px` +
      (psfMode() === "estimated" ? " (estimated)" : "");
  } catch (error) {
    showError(`PSF: ${error.message}`);
  }
}

function setupPsfPicker() {
  const select = $("psf-model");
  for (const model of state.catalog.psf_models) {
    state.psfValues[model.name] = Object.fromEntries(model.sliders.map((s) => [s.name, s.initial]));
    select.append(new Option(`${model.name}`, model.name));
    select.lastChild.title = model.summary;
  }
  select.append(new Option("PSF file…", "file"));
  select.append(new Option("none: estimate blindly in the full run", "blind"));
  select.addEventListener("change", () => { buildPsfSliders(); psfChanged(); });
  $("psf-file").addEventListener("change", () => {
    state.psfFile = $("psf-file").files[0] || null;
    psfChanged();
  });
  for (const name of state.catalog.blind_models) $("blind-model").append(new Option(`model: ${name}`, name));
  buildPsfSliders();
}

// A parametric estimate ("motion:length=9,angle=30") moves the model picker and its sliders there.
function applyEstimate(job, psfBlob) {
  state.estimated = psfBlob;
  const select = $("psf-model");
  if (job.spec && psfModel(job.spec.split(":")[0])) {
    const [name, args] = job.spec.split(":");
    for (const pair of args.split(",")) {
      const [key, value] = pair.split("=");
      if (key in state.psfValues[name]) state.psfValues[name][key] = Number(value);
    }
    select.value = name;
  } else {
    if (!select.querySelector('option[value="estimated"]')) select.append(new Option("estimated (free-form)", "estimated"));
    select.value = "estimated";
  }
  buildPsfSliders();
  updatePsfThumb();
  schedulePreview();
}

// ---- method --------------------------------------------------------------------------------------

function setupMethodPicker() {
  const select = $("method");
  for (const m of state.catalog.methods) select.append(new Option(m.name, m.name));
  select.value = state.catalog.default_method;
  select.addEventListener("change", () => {
    state.method = select.value;
    state.offset = null;
    buildMethodSlider();
    schedulePreview();
  });
  $("method-param").addEventListener("input", () => {
    state.offset = Number($("method-param").value);
    showMethodValue();
    schedulePreview();
  });
  $("method-param-reset").addEventListener("click", () => {
    state.offset = null;
    buildMethodSlider();
    schedulePreview();
  });
  buildMethodSlider();
}

function buildMethodSlider() {
  const spec = methodSpec(state.method);
  $("method-summary").textContent = spec.summary;
  const main = spec.main;
  $("method-param-row").hidden = !main;
  if (!main) return;
  const input = $("method-param");
  Object.assign(input, { min: main.min, max: main.max, step: main.step });
  $("method-param-label").textContent = main.name;
  $("method-param-label").title = main.help;
  input.value = state.offset ?? neutralPosition(main);
  showMethodValue();
}

function neutralPosition(main) {
  if (main.scale === "linear") return state.autoValue[state.method] ?? Math.round((main.min + main.max) / 6);
  return 0;  // relative: the method's own choice; log2: factor 1
}

// The method parameter the slider sets, or undefined while it is on "auto".
function methodValue() {
  const main = methodSpec(state.method).main;
  if (!main || state.offset === null) return undefined;
  if (main.scale === "linear") return Math.round(state.offset);
  if (main.scale === "log2") return Math.pow(2, state.offset);
  const base = state.autoValue[state.method];
  return base === undefined ? undefined : base * Math.pow(2, state.offset);
}

function showMethodValue() {
  const main = methodSpec(state.method).main;
  if (!main) return;
  const value = methodValue();
  const chosen = state.autoValue[state.method];
  $("method-param-value").textContent = state.offset === null
    ? `auto${chosen !== undefined ? " = " + fmt(chosen) : ""}`
    : (value === undefined ? "…" : fmt(value));
}

function methodParams() {
  const main = methodSpec(state.method).main;
  const value = methodValue();
  return main && value !== undefined ? { [main.name]: value } : {};
}

// ---- image ---------------------------------------------------------------------------------------

async function uploadImage(file) {
  clearError();
  $("drop-text").textContent = `Uploading ${file.name}…`;
  const form = new FormData();
  form.append("image", file, "upload");
  try {
    state.image = await (await api("/api/images", { method: "POST", body: form })).json();
  } catch (error) {
    $("drop-text").textContent = "Drop an image here or choose a file";
    showError(`Upload: ${error.message}`);
    return;
  }
  const im = state.image;
  $("drop-text").textContent = file.name;
  $("image-info").textContent = `${im.width}×${im.height} px, ${im.channels} channel(s), ` +
    `${im.format.toUpperCase()} ${im.dtype}`;
  $("overview-img").src = im.display_url;
  const size = state.catalog.limits.preview_size;
  state.loupe = { x: Math.max(0, Math.round((im.width - size) / 2)), y: Math.max(0, Math.round((im.height - size) / 2)) };
  state.autoValue = {};
  state.offset = null;
  buildMethodSlider();
  $("download").hidden = true;
  $("run").disabled = false;
  $("estimate").disabled = false;
  drawLoupe();
  schedulePreview();
}

function setupDropZone() {
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) uploadImage(e.dataTransfer.files[0]);
  });
  $("file-input").addEventListener("change", () => {
    if ($("file-input").files.length) uploadImage($("file-input").files[0]);
  });
}

// ---- loupe ---------------------------------------------------------------------------------------

function drawLoupe() {
  const box = $("loupe-box");
  const img = $("overview-img");
  if (!state.image || previewMode() !== "loupe" || !img.clientWidth) { box.hidden = true; return; }
  const f = img.clientWidth / state.image.width;
  const size = state.catalog.limits.preview_size;
  Object.assign(box.style, { left: `${state.loupe.x * f}px`, top: `${state.loupe.y * f}px`,
    width: `${Math.min(size, state.image.width) * f}px`, height: `${Math.min(size, state.image.height) * f}px` });
  box.hidden = false;
}

function moveLoupe(event) {
  if (!state.image) return;
  const img = $("overview-img");
  const rect = img.getBoundingClientRect();
  const f = state.image.width / rect.width;
  const size = state.catalog.limits.preview_size;
  const clamp = (v, n) => Math.max(0, Math.min(Math.round(v), Math.max(0, n - size)));
  state.loupe = { x: clamp((event.clientX - rect.left) * f - size / 2, state.image.width),
                  y: clamp((event.clientY - rect.top) * f - size / 2, state.image.height) };
  drawLoupe();
  schedulePreview();
}

function setupLoupe() {
  const overview = $("overview");
  let dragging = false;
  overview.addEventListener("mousedown", (e) => { dragging = true; moveLoupe(e); e.preventDefault(); });
  window.addEventListener("mousemove", (e) => { if (dragging) moveLoupe(e); });
  window.addEventListener("mouseup", () => { dragging = false; });
  $("overview-img").addEventListener("load", drawLoupe);
  window.addEventListener("resize", drawLoupe);
  for (const radio of document.querySelectorAll('input[name="preview-mode"]')) {
    radio.addEventListener("change", () => { drawLoupe(); schedulePreview(); });
  }
}

function previewMode() { return document.querySelector('input[name="preview-mode"]:checked').value; }

// ---- preview -------------------------------------------------------------------------------------

function schedulePreview() { debounce("previewTimer", 250, runPreview); }

async function runPreview() {
  if (!state.image) return;
  if (state.previewBusy) { state.previewAgain = true; return; }  // latest settings win
  const form = new FormData();
  form.append("image_id", state.image.image_id);
  if (!addPsf(form)) {
    $("preview-status").textContent = psfMode() === "blind"
      ? "No PSF to preview with: estimate one or pick a model." : "Choose a PSF file.";
    return;
  }
  form.append("method", state.method);
  form.append("params", JSON.stringify(methodParams()));
  form.append("mode", previewMode());
  form.append("x", state.loupe.x);
  form.append("y", state.loupe.y);
  state.previewBusy = true;
  $("preview-status").textContent = "Updating preview…";
  try {
    const body = await (await api("/api/preview", { method: "POST", body: form })).json();
    showPreview(body);
  } catch (error) {
    if (error.status === 503) { state.previewAgain = true; }
    else { showError(`Preview: ${error.message}`); $("preview-status").textContent = "Preview failed."; }
  } finally {
    state.previewBusy = false;
    if (state.previewAgain) { state.previewAgain = false; schedulePreview(); }
  }
}

function showPreview(body) {
  const main = methodSpec(state.method).main;
  if (main && state.offset === null && typeof body.params[main.name] === "number") {
    state.autoValue[state.method] = body.params[main.name];
    if (main.scale === "linear") $("method-param").value = body.params[main.name];
    showMethodValue();
  }
  setCompare(body.before, body.after, 2);
  const [x, y, w, h] = body.region;
  $("compare-title").textContent = body.mode === "loupe"
    ? `Preview: ${w}×${h} px at (${x}, ${y}), full resolution`
    : `Preview: whole image at 1/${body.scale} scale`;
  $("preview-status").textContent = `Preview in ${Math.round(body.time_s * 1000)} ms` +
    (body.preview_params.iterations ? `, ${body.preview_params.iterations} iterations` : "");
  $("params-used").textContent = JSON.stringify(body.params, null, 1);
}

function setCompare(before, after, zoom) {
  const b = $("before-img");
  b.onload = () => {
    // small previews are enlarged (pixels kept sharp) so that detail can be judged
    const width = Math.min(900, Math.max(b.naturalWidth * zoom, Math.min(640, b.naturalWidth * 4)));
    b.style.width = `${width}px`;
  };
  $("placeholder").hidden = true;
  $("compare").hidden = false;
  $("compare-slider").hidden = false;
  b.src = before;
  $("after-img").src = after;
  updateCompare();
}

function updateCompare() {
  const v = Number($("compare-slider").value);
  $("after-img").style.clipPath = `inset(0 0 0 ${v}%)`;
  $("compare-handle").style.left = `${v}%`;
}

// ---- jobs ----------------------------------------------------------------------------------------

async function startJob(path, form, onDone) {
  clearError();
  let started;
  try {
    started = await (await api(path, { method: "POST", body: form })).json();
  } catch (error) {
    showError(error.status === 503 ? "The server is busy; try again in a moment." : error.message);
    return;
  }
  state.job = started.job_id;
  $("cancel").disabled = false;
  $("run").disabled = true;
  $("estimate").disabled = true;
  $("progress").value = 0;
  try {
    for (;;) {
      const job = await (await api(`/api/jobs/${started.job_id}?wait=0.5`)).json();
      $("progress").value = job.progress;
      $("job-status").textContent = `${job.phase || job.status} ${Math.round(job.progress * 100)}%`;
      if (job.status === "done") { $("job-status").textContent = "done"; await onDone(job); break; }
      if (job.status === "cancelled") { $("job-status").textContent = "cancelled"; break; }
      if (job.status === "failed") { $("job-status").textContent = "failed"; showError(job.error); break; }
    }
  } catch (error) {
    showError(error.message);
  } finally {
    state.job = null;
    $("cancel").disabled = true;
    $("run").disabled = !state.image;
    $("estimate").disabled = !state.image;
  }
}

function runFull() {
  const form = new FormData();
  form.append("image_id", state.image.image_id);
  const blind = !addPsf(form);
  if (blind && psfMode() === "file") { showError("Choose a PSF file first."); return; }
  form.append("method", state.method);
  form.append("params", JSON.stringify(methodParams()));
  $("download").hidden = true;
  startJob("/api/deblur", form, async (job) => {
    setCompare(state.image.display_url, job.display_url, 1);
    $("compare-title").textContent = "Full resolution result" + (blind ? " (PSF estimated blindly)" : "");
    const link = $("download");
    link.href = job.result_url;
    link.download = `deblurred.${{ png: "png", jpeg: "jpg", tiff: "tif" }[job.format]}`;
    link.hidden = false;
    $("params-used").textContent = JSON.stringify({ restore: job.params, psf: job.psf }, null, 1);
    if (blind) { $("psf-thumb").src = job.psf_image; $("psf-label").textContent = "estimated in this run"; }
  });
}

function runEstimate() {
  const form = new FormData();
  form.append("image_id", state.image.image_id);
  form.append("model", $("blind-model").value);
  // A large image is estimated on a region around the loupe: a part with structure is enough, and a
  // 12 MP frame would take minutes.
  const im = state.image;
  const side = state.catalog.limits.estimate_region;
  if (im.width > side || im.height > side) {
    const size = state.catalog.limits.preview_size;
    const cx = state.loupe.x + size / 2, cy = state.loupe.y + size / 2;
    const x = Math.max(0, Math.min(Math.round(cx - side / 2), im.width - side));
    const y = Math.max(0, Math.min(Math.round(cy - side / 2), im.height - side));
    form.append("region", JSON.stringify([x, y, Math.min(side, im.width), Math.min(side, im.height)]));
  }
  startJob("/api/estimate", form, async (job) => {
    const blob = await (await api(job.result_url)).blob();
    const [rx, ry, rw, rh] = job.region;
    const where = rw < im.width || rh < im.height ? ` (from the ${rw}×${rh} region at ${rx}, ${ry})` : "";
    $("job-status").textContent = `PSF estimated: ${job.spec || `free-form ${job.shape[1]}×${job.shape[0]} px`}${where}`;
    $("params-used").textContent = JSON.stringify(job.params, null, 1);
    applyEstimate(job, blob);
  });
}

async function cancelJob() {
  if (!state.job) return;
  $("cancel").disabled = true;
  try { await api(`/api/jobs/${state.job}`, { method: "DELETE" }); } catch (error) { showError(error.message); }
}

// ---- start ---------------------------------------------------------------------------------------

async function init() {
  $("error-close").addEventListener("click", clearError);
  try {
    state.catalog = await (await api("/api/methods")).json();
  } catch (error) {
    showError(`Cannot reach the deconvkit server: ${error.message}`);
    return;
  }
  state.method = state.catalog.default_method;
  setupPsfPicker();
  setupMethodPicker();
  setupDropZone();
  setupLoupe();
  $("compare-slider").addEventListener("input", updateCompare);
  $("run").addEventListener("click", runFull);
  $("estimate").addEventListener("click", runEstimate);
  $("cancel").addEventListener("click", cancelJob);
  updatePsfThumb();
  document.body.dataset.ready = "1";
}

init();
