// Hallpass pages work without this script; it only adds conveniences.
// Forms marked data-confirm ask first.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
