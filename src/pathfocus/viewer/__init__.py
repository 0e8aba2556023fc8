"""The local web slide viewer of ``pathfocus view``: OpenSeadragon (vendored in ``static/``) over
OpenSlide's Deep Zoom tiles, with the analyses' overlays.

``slides`` (the allow-list of slide files and their tiles, by opaque id), ``overlays`` (what ``analyze``
and annotators wrote for each slide), ``app`` (the Starlette routes and the uvicorn server).
"""

OPENSEADRAGON_VERSION = "6.1.1"
