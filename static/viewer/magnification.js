// Magnification and scale, from the slide's calibration. Pure functions, no DOM.
//
// "Objective-equivalent" is what a pathologist reads on a microscope: at screen zoom z
// (screen pixels per level-0 pixel) a slide scanned with a 20x objective looks as it
// would under a 20*z objective. Without an objective power we derive one from mpp with
// the usual 10 µm/pixel-at-1x convention (0.25 µm/px = 40x). Without either we say so.

import { formatLength } from "/static/shell/shell.js";

export const STEPS = [2.5, 5, 10, 20, 40];

/** The objective power the slide's level 0 corresponds to, or null without calibration. */
export function baseObjective(slide) {
  if (slide.objective_power > 0) return slide.objective_power;
  const mpp = micronsPerPixel(slide);
  return mpp ? 10 / mpp : null;
}

/** Mean µm per level-0 pixel, or null when the scanner recorded none. */
export function micronsPerPixel(slide) {
  if (slide.mpp_x > 0 && slide.mpp_y > 0) return (slide.mpp_x + slide.mpp_y) / 2;
  return null;
}

export function magnification(slide, imageZoom) {
  const base = baseObjective(slide);
  return base ? base * imageZoom : null;
}

/** The screen zoom (screen px per level-0 px) that shows `objective`. */
export function imageZoomFor(slide, objective) {
  const base = baseObjective(slide);
  return base ? objective / base : null;
}

export function formatMagnification(value) {
  if (value === null) return null;
  const digits = value < 10 ? 1 : 0;
  return `${value.toFixed(digits).replace(/\.0$/, "")}×`;
}

/** A round scale bar (1, 2 or 5 × 10^k µm) close to `targetPx` screen pixels long. */
export function scaleBar(mpp, imageZoom, targetPx = 120) {
  if (!mpp || !(imageZoom > 0)) return null;
  const umPerScreenPx = mpp / imageZoom;
  const wanted = umPerScreenPx * targetPx;
  const power = 10 ** Math.floor(Math.log10(wanted));
  const nice = [1, 2, 5, 10].map((m) => m * power).filter((v) => v <= wanted).pop() || power;
  return { um: nice, px: nice / umPerScreenPx, label: formatLength(nice) };
}
