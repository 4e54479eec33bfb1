// Progressive enhancement only: every form works without this file.
document.addEventListener("DOMContentLoaded", () => {
  if (window.htmx) document.body.classList.add("htmx-ready");
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  await navigator.clipboard.writeText(source.textContent.trim());
  button.textContent = button.dataset.copied || "✓";
});
