// Console › Buyer portal: the preview follows the colour fields while typing, and shows a chosen logo.
// Only an enhancement: without it the preview shows the saved look, and the form saves as usual.
(() => {
  const WHITE = "#ffffff";
  const DARK_INK = "#1d2733";
  const COLOUR = /^#[0-9a-f]{6}$/;

  const channel = (value) => {
    const v = value / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const rgb = (colour) => [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
  const luminance = (colour) => {
    const [r, g, b] = rgb(colour).map(channel);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a, b) => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  // The same choices as backend/tenants/service.py makes for theme.css.
  const inkOn = (colour) => (contrast(colour, WHITE) >= contrast(colour, DARK_INK) ? WHITE : DARK_INK);
  const readableOnWhite = (colour) => {
    const [r, g, b] = rgb(colour);
    for (let step = 0; step <= 20; step += 1) {
      const f = 1 - step / 20;
      const candidate = "#" + [r, g, b].map((c) => Math.round(c * f).toString(16).padStart(2, "0")).join("");
      if (contrast(candidate, WHITE) >= 4.5) return candidate;
    }
    return DARK_INK;
  };

  document.addEventListener("DOMContentLoaded", () => {
    const preview = document.getElementById("brand-preview");
    if (!preview) return;
    const apply = (input) => {
      const value = input.value.trim().toLowerCase();
      if (!COLOUR.test(value)) return;
      if (input.dataset.preview === "--brand") {
        preview.style.setProperty("--brand", value);
        preview.style.setProperty("--brand-ink", inkOn(value));
        preview.style.setProperty("--accent", readableOnWhite(value));
      } else {
        preview.style.setProperty("--brand-soft", value);
        preview.style.setProperty("--brand-soft-ink", inkOn(value));
      }
    };
    preview.querySelectorAll("input[data-preview]").forEach((input) => {
      input.addEventListener("input", () => apply(input));
    });
    const logoInput = document.getElementById("brand-logo");
    const logo = document.getElementById("preview-logo");
    if (logoInput && logo) {
      logoInput.addEventListener("change", () => {
        const file = logoInput.files && logoInput.files[0];
        if (!file || !["image/png", "image/jpeg", "image/webp"].includes(file.type)) return;
        // A data: address, which the page's Content-Security-Policy allows for images (blob: it does not).
        const reader = new FileReader();
        reader.addEventListener("load", () => {
          logo.src = reader.result;
          logo.hidden = false;
        });
        reader.readAsDataURL(file);
      });
    }
  });
})();
