// Hallpass pages work without this script; it only adds conveniences.
// A form sent back with mistakes puts the cursor on the first one.
document.addEventListener("DOMContentLoaded", () => {
  const first = document.querySelector("main [aria-invalid=true]");
  if (first) {
    first.focus();
  }
});

// Forms marked data-confirm ask first.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// Upload forms (data-upload) show a progress bar: the form is sent by XMLHttpRequest,
// which reports how much has gone; the page the server answers with is then shown.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.hasAttribute("data-upload") || event.defaultPrevented) {
    return;
  }
  event.preventDefault();
  const progress = form.querySelector(".upload-progress");
  const bar = form.querySelector("progress");
  const error = form.querySelector("[data-upload-error]");
  const button = form.querySelector("button[type=submit]");
  const request = new XMLHttpRequest();
  request.open("POST", form.action);
  request.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) {
      bar.value = Math.round((e.loaded / e.total) * 100);
    }
  });
  request.addEventListener("load", () => {
    if (request.status < 400) {
      window.location.assign(request.responseURL);
      return;
    }
    const page = new DOMParser().parseFromString(request.responseText, "text/html");
    const message = page.querySelector("main p");
    error.textContent = "The upload failed: " + (message ? message.textContent : request.statusText);
    progress.hidden = true;
    button.disabled = false;
  });
  request.addEventListener("error", () => {
    error.textContent = "The upload failed: the connection was lost.";
    progress.hidden = true;
    button.disabled = false;
  });
  error.textContent = "";
  bar.value = 0;
  progress.hidden = false;
  button.disabled = true;
  request.send(new FormData(form));
});
