// The dock's geometry: where a box at a corner sits, which corner a dragged box belongs to, the
// keyboard's round of corners, and stepping aside from a highlighted rect.
import { test } from "node:test";
import assert from "node:assert/strict";

import { asideFrom, DEFAULT_PLACE, MARGIN, nextCorner, placeAt, placeOf, validPlace } from "../../static/cobrowse/dock.js";

const view = { width: 1280, height: 800 };
const handle = { width: 180, height: 44 };

test("a place is measured from the edges of its corner", () => {
  assert.deepEqual(placeAt(DEFAULT_PLACE, handle, view), { left: 1280 - 180 - MARGIN, top: 800 - 44 - MARGIN });
  assert.deepEqual(placeAt({ h: "left", v: "top", dx: 30, dy: 40 }, handle, view), { left: 30, top: 40 });
});

test("a place never puts the box outside a smaller viewport", () => {
  const phone = { width: 375, height: 740 };
  const panel = { width: 343, height: 500 };
  const { left, top } = placeAt({ h: "right", v: "bottom", dx: 300, dy: 600 }, panel, phone);
  assert.equal(left, 0);
  assert.equal(top, 0);
});

test("a dragged box belongs to the corner nearest its middle, at the distance it was left", () => {
  assert.deepEqual(placeOf(100, 120, handle, view), { h: "left", v: "top", dx: 100, dy: 120 });
  assert.deepEqual(placeOf(1000, 700, handle, view), { h: "right", v: "bottom", dx: 100, dy: 56 });
  // Back where it was: the same place again.
  const { left, top } = placeAt({ h: "right", v: "bottom", dx: 100, dy: 56 }, handle, view);
  assert.deepEqual(placeOf(left, top, handle, view), { h: "right", v: "bottom", dx: 100, dy: 56 });
});

test("the keyboard goes round the four corners", () => {
  let place = DEFAULT_PLACE;
  const seen = [];
  for (let i = 0; i < 4; i += 1) {
    place = nextCorner(place);
    seen.push(`${place.v}-${place.h}`);
  }
  assert.deepEqual(seen, ["bottom-left", "top-left", "top-right", "bottom-right"]);
});

test("a box over a highlighted rect steps across, else up, else diagonally", () => {
  const { left, top } = placeAt(DEFAULT_PLACE, handle, view);
  const under = { left: left + 10, top: top + 10, right: left + 60, bottom: top + 30 };
  assert.deepEqual(asideFrom(under, DEFAULT_PLACE, handle, view), { h: "left", v: "bottom", dx: MARGIN, dy: MARGIN });
  const wideBottom = { left: 0, top: 700, right: 1280, bottom: 800 };
  assert.deepEqual(asideFrom(wideBottom, DEFAULT_PLACE, handle, view), { h: "right", v: "top", dx: MARGIN, dy: MARGIN });
  const elsewhere = { left: 0, top: 0, right: 100, bottom: 100 };
  assert.equal(asideFrom(elsewhere, DEFAULT_PLACE, handle, view), DEFAULT_PLACE);
  assert.equal(asideFrom({ left: 0, top: 0, right: 1280, bottom: 800 }, DEFAULT_PLACE, handle, view), null);
});

test("only a well-formed place is kept", () => {
  assert.equal(validPlace(null), null);
  assert.equal(validPlace({ h: "middle", v: "top", dx: 1, dy: 1 }), null);
  assert.equal(validPlace({ h: "left", v: "top", dx: "1", dy: 1 }), null);
  assert.deepEqual(validPlace({ h: "left", v: "top", dx: -5, dy: 7 }), { h: "left", v: "top", dx: 0, dy: 7 });
});
