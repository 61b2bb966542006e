"""The customer's pointer as the operator sees it: where it stopped, soon after it stopped.

rrweb samples pointer moves; the sample of the last move before a pause must not be dropped
(a leading-edge-only throttle dropped it, leaving the operator's view of the pointer short by up
to the sampling interval). The recorder and the scheduler run as they do on a customer's page;
only the transport is replaced by a log of what would be sent and when."""

from __future__ import annotations

from typing import Any

RECORD = """async () => {
  const { Recorder } = await import("/static/cobrowse/recorder.js");
  const { Scheduler } = await import("/static/cobrowse/scheduler.js");
  window.sent = [];
  window.lastMove = null;
  document.addEventListener("mousemove", (event) => {
    window.lastMove = { x: event.clientX, y: event.clientY, t: performance.now() };
  }, true);
  const scheduler = new Scheduler({
    send: (op) => window.sent.push({ ...op, t: performance.now() }),
  });
  new Recorder({ scheduler }).start();
}"""


def test_the_last_position_after_a_movement_is_sent_within_100_ms(new_context: Any, live_url: str):
    page = new_context().new_page()
    page.set_viewport_size({"width": 800, "height": 600})
    page.goto(f"{live_url}/helpdesk/login/")
    page.evaluate(RECORD)
    for stop in [(300, 200), (420, 260), (517, 333)]:
        # A quick stroke (its events well inside one sampling interval), then a pause.
        page.mouse.move(stop[0] - 60, stop[1] - 40)
        page.mouse.move(*stop, steps=12)
        page.wait_for_timeout(400)
        last_move = page.evaluate("window.lastMove")
        pointers = page.evaluate("window.sent.filter((op) => op.kind === 'pointer')")
        assert pointers, "no pointer op was sent"
        last = pointers[-1]
        assert (last["payload"]["x"], last["payload"]["y"]) == stop, (
            f"the pointer stopped at {stop}, the last position sent was "
            f"{(last['payload']['x'], last['payload']['y'])}"
        )
        delay = last["t"] - last_move["t"]
        assert delay <= 100, f"the final position left {delay:.0f} ms after the last move"
