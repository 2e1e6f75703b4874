"""`translate serve`: models over HTTP, for a page in the browser and for code.

`models.py` loads and names the models and describes them (the model card), `batching.py` gathers
concurrent requests into same-size batches for the one runner, `codec.py` turns request bodies into
pixels and results into PNG/JPEG/WebP, `app.py` is the ASGI application, and `page/` the browser page.
Only the CLI (`translate/cli_serve.py`) imports this package.
"""
