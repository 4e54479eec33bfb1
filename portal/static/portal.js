// The buyer portal's progressive enhancements; every form works without this file.

// --- uploads: the files' limits checked on choosing, and the progress shown while sending -------------
//
// A form marked data-upload is sent here with XMLHttpRequest, the way htmx would (HX-Request), so that
// its <progress> moves as the files go up. The server answers with the part of the page to show
// (data-target), or with HX-Redirect. A send that did not finish is never repeated by itself (the
// server may have kept it: a second case, message or set of files); the buyer is told what happened.

function uploadParts(form) {
  const status = form.querySelector("[data-upload-status]");
  return {
    status,
    bar: status && status.querySelector("progress"),
    text: status && status.querySelector("[data-upload-text]"),
    buttons: [...form.querySelectorAll("button[type=submit], button:not([type])")],
  };
}

function fileWarning(input) {
  const limitFiles = Number(input.dataset.maxFiles || 0);
  const limitBytes = Number(input.dataset.maxMb || 0) * 1024 * 1024;
  const form = input.form;
  const files = [...input.files];
  if (limitFiles && files.length > limitFiles) return form.dataset.tooMany || "";
  const large = limitBytes ? files.find((file) => file.size > limitBytes) : null;
  if (large) return (form.dataset.tooLarge || "").replace("{name}", large.name);
  return "";
}

function showWarning(input) {
  const warning = input.parentElement.querySelector("[data-file-warning]");
  const message = fileWarning(input);
  if (warning) {
    warning.textContent = message;
    warning.hidden = !message;
    if (message) warning.id = warning.id || `${input.id}-warning`;
  }
  if (message) {
    input.setAttribute("aria-invalid", "true");
  } else if (!input.parentElement.querySelector(`#${CSS.escape(input.id)}-error`)) {
    input.removeAttribute("aria-invalid");
  }
  return message;
}

document.addEventListener("change", (event) => {
  const input = event.target;
  if (input instanceof HTMLInputElement && input.type === "file" && input.form && input.form.hasAttribute("data-upload")) {
    showWarning(input);
  }
});

function swapIn(form, html) {
  const selector = form.dataset.target;
  const current = selector && document.querySelector(selector);
  const parsed = new DOMParser().parseFromString(html, "text/html");
  const fresh = selector && parsed.querySelector(selector);
  if (!current || !fresh) return false;
  const adopted = document.importNode(fresh, true);
  current.replaceWith(adopted);
  if (window.htmx) window.htmx.process(adopted);
  // Where the eye should go: the first refusal, else the top of what changed.
  const focus = adopted.querySelector("[data-focus], [aria-invalid='true'], .field-error, .error");
  const target = focus || adopted;
  if (!target.hasAttribute("tabindex") && !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(target.tagName)) {
    target.setAttribute("tabindex", "-1");
  }
  target.focus({ preventScroll: true });
  target.scrollIntoView({ block: "nearest" });
  return true;
}

document.addEventListener(
  "submit",
  (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-upload") || !window.FormData) return;
    const inputs = [...form.querySelectorAll("input[type=file]")];
    if (inputs.some((input) => showWarning(input))) {
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    const { status, bar, text, buttons } = uploadParts(form);
    const data = new FormData(form);
    if (event.submitter && event.submitter.name) data.append(event.submitter.name, event.submitter.value);
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("HX-Request", "true");
    const say = (message) => { if (text) text.textContent = message; };
    const failed = (message) => {
      buttons.forEach((button) => { button.disabled = false; });
      if (status) status.hidden = false;
      if (bar) bar.value = 0;
      say(message || "");
      if (text) text.setAttribute("role", "alert");
    };
    if (status) status.hidden = false;
    if (bar) { bar.value = 0; bar.max = 100; }
    buttons.forEach((button) => { button.disabled = true; });
    request.upload.addEventListener("progress", (progress) => {
      if (!progress.lengthComputable) return;
      const percent = Math.floor((progress.loaded / progress.total) * 100);
      if (bar) bar.value = percent;
      say((form.dataset.uploading || "{percent}").replace("{percent}", `${percent}%`));
    });
    request.upload.addEventListener("load", () => {
      if (bar) bar.value = 100;
      say(form.dataset.checking || "");
    });
    request.addEventListener("load", () => {
      const redirect = request.getResponseHeader("HX-Redirect");
      if (redirect) {
        window.location.assign(redirect);
        return;
      }
      if ([200, 409, 413, 422].includes(request.status) && swapIn(form, request.responseText)) return;
      // A 413 the proxy answered before the application saw the files (no page to show).
      failed(request.status === 413 ? form.dataset.tooLargeTogether : form.dataset.failed);
    });
    request.addEventListener("error", () => failed(form.dataset.failed));
    request.addEventListener("abort", () => failed(form.dataset.failed));
    request.addEventListener("timeout", () => failed(form.dataset.failed));
    request.send(data);
  },
  true, // before htmx sees the submit
);
