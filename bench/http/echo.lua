-- wrk script: POST a small JSON document to /echo.
wrk.method = "POST"
wrk.body = '{"name": "weft", "tags": ["a", "b", "c"], "n": 42, "nested": {"ok": true}}'
wrk.headers["Content-Type"] = "application/json"
