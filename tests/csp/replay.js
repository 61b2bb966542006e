// The operator side under the replay policy: rrweb's Replayer rebuilds a recorded page, with
// its inline <style> element and style attribute, in its sandboxed iframe.
import { Replayer } from "/static/vendor/rrweb/rrweb.js";

const text = (id, textContent, isStyle = false) => ({ type: 3, id, textContent, isStyle });
const el = (id, tagName, attributes, childNodes = []) => ({ type: 2, id, tagName, attributes, childNodes });
const events = [
  { type: 4, data: { href: "https://shop.example/", width: 800, height: 600 }, timestamp: 1000 },
  {
    type: 2,
    timestamp: 1001,
    data: {
      initialOffset: { left: 0, top: 0 },
      node: {
        type: 0, id: 1, childNodes: [
          { type: 1, id: 2, name: "html", publicId: "", systemId: "" },
          el(3, "html", {}, [
            el(4, "head", {}, [el(5, "style", {}, [text(6, ".x { color: rgb(0, 128, 0); }", true)])]),
            el(7, "body", {}, [el(8, "p", { class: "x", style: "font-weight: 700" }, [text(9, "replayed")])]),
          ]),
        ],
      },
    },
  },
];
const replayer = new Replayer(events, { root: document.getElementById("stage") });
replayer.pause(1001);
setTimeout(() => {
  const doc = replayer.iframe.contentDocument;
  const p = doc && doc.querySelector("p.x");
  window.__result = {
    sandbox: replayer.iframe.getAttribute("sandbox"),
    replayed: p ? p.textContent : null,
    color: p ? getComputedStyle(p).color : null,
    weight: p ? getComputedStyle(p).fontWeight : null,
  };
}, 500);
