"""The ASGI extensions the production server (config/websocket.py) offers the consumer
(cobrowse/consumers.py), by their names in the scope's `extensions`. Neither Django nor the
server is imported here: both sides import this module."""

# A synchronous write of text frames: `{"write_texts": f}`, `f(texts) -> bool`, True once
# written, False (nothing written) when the socket would make the writer wait.
DIRECT_WRITE = "cobrowse.direct_write"
# Frames from the client handed over as they are read: `{"set_receiver": f}`, `f(receiver)`
# with a callable taking each text frame, or None to go back to the ASGI `receive`.
DIRECT_RECEIVE = "cobrowse.direct_receive"
