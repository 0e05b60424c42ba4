// Calibrating a picture the file did not calibrate (a phone photograph, a camera
// capture): the site's technicians and pathologists enter a stage micrometer's reading
// in µm per pixel. The hub records and audits it; the scale bar, magnification and
// every measurement then use it. A file's own calibration is never offered for change.

import { api, el, formatMpp, t } from "/static/shell/shell.js";

const ROLES = new Set(["technician", "pathologist"]);

/** Shows the form where it applies; `onChange(slide)` gets the slide as the hub now has it. */
export function setUpCalibration(slide, me, onChange) {
  const box = document.getElementById("calibration-box");
  if (slide.calibration === "file" || !ROLES.has(me?.role)) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const input = document.getElementById("calibration-mpp");
  const result = document.getElementById("calibration-result");
  const describe = () => {
    const across = formatMpp(slide.mpp_x, 4);
    const down = formatMpp(slide.mpp_y, 4);
    let text = t("The file states no pixel size: lengths and areas are in pixels.");
    if (slide.calibration === "user" && slide.mpp_y !== slide.mpp_x) {
      text = t("Set by a user: {across} across, {down} down.", { across, down });
    } else if (slide.calibration === "user") {
      text = t("Set by a user: {size}.", { size: across });
    }
    result.textContent = text;
  };
  describe();
  document.getElementById("calibration-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const mpp = Number(input.value);
    if (!(mpp > 0 && mpp <= 50)) {
      result.textContent = t("Enter the pixel size in µm per pixel (more than 0, at most 50).");
      return;
    }
    try {
      const updated = await api(`/api/slides/${encodeURIComponent(slide.id)}/calibration`, {
        method: "PUT", json: { mpp_x: mpp },
      });
      Object.assign(slide, updated);
      input.value = "";
      describe();
      onChange(slide);
    } catch (error) {
      result.replaceChildren(el("span", { class: "error" }, t("Not saved: {reason}", { reason: error.message })));
    }
  });
}
