"""HTTP transports (``base.Transport``): the fast one on httptools, and aiohttp's; one settings object.

``base`` (the seam: Request, Response, RequestFailed, ErrorKind, Transport), ``settings``
(``TransportSettings``), ``wire`` (requests as bytes, validated), ``fast`` (``FastTransport``),
``aiohttp_client`` (``AiohttpTransport``). Import the module you need: this package imports nothing on its
own, so reading ``TransportSettings`` (the CLI's options) does not load an HTTP client.
"""
