"""A partner bank's page against a local otp-gateway, showing both embedding modes.

    otp-gateway bank update 0001 --embed-origin http://localhost:8001 --return-url http://localhost:8001/otp/return
    otp-gateway bank result-key 0001 | tail -n 1 > /tmp/0001.key
    python examples/partner/serve.py --port 8001 --gateway http://127.0.0.1:5000 --bank 0001 \\
        --result-key-file /tmp/0001.key --public-host localhost

then open http://localhost:8001/. Standard library plus PyJWT (for `verify.py`).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import tempfile
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

HERE = Path(__file__).resolve().parent
if __package__:
    from .verify import ResultRefused, ResultVerifier, UsedResults
else:  # run as a script: python examples/partner/serve.py
    sys.path.insert(0, str(HERE))
    from verify import ResultRefused, ResultVerifier, UsedResults  # type: ignore[no-redef]

STATIC = {"/partner.js": "application/javascript", "/partner.css": "text/css"}


class PartnerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, gateway: str, bank: str, key: str, public_host: str | None = None,
                 store: str = ":memory:", quiet: bool = False) -> None:
        super().__init__((host, port), PartnerHandler)
        self.quiet = quiet
        self.gateway = gateway.rstrip("/")
        self.bank = bank
        #: The origin as the browser sees it (it may reach us as `localhost` while we bind 127.0.0.1).
        self.origin = f"http://{public_host or host}:{self.server_port}"
        self.return_url = f"{self.origin}/otp/return"
        self.verifier = ResultVerifier(bank, key, UsedResults(store))

    def redirect_link(self, flow: str) -> str:
        return f"{self.gateway}/b/{quote(self.bank)}/{flow}?return_to={quote(self.return_url, safe='')}"


class PartnerHandler(BaseHTTPRequestHandler):
    server: PartnerServer

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        gateway_origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.server.gateway))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        # The bank's own page: no inline script either, and frames only from the gateway.
        self.send_header("Content-Security-Policy", f"default-src 'self'; frame-src {gateway_origin}; "
                                                    "frame-ancestors 'none'; base-uri 'none'")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/":
            page = (HERE / "index.html").read_text(encoding="utf-8")
            values = {"gateway": self.server.gateway, "bank": self.server.bank, "origin": self.server.origin,
                      "return_url": self.server.return_url,
                      "register_redirect": self.server.redirect_link("register"),
                      "stop_redirect": self.server.redirect_link("stop")}
            for name, value in values.items():
                page = page.replace("{" + name + "}", html.escape(value))
            self._send(200, page.encode(), "text/html; charset=utf-8")
        elif path in STATIC:
            self._send(200, (HERE / path.lstrip("/")).read_bytes(), STATIC[path])
        elif path == "/otp/return":
            self._return(parse_qs(query, keep_blank_values=True).get("otp_result", []))
        else:
            self._send(404, b"not found", "text/plain")

    def _return(self, tokens: list[str]) -> None:
        """Redirect mode: the customer is back; check the result before believing anything.

        Exactly one `otp_result`: a second one is somebody's attempt to have us read theirs."""
        try:
            if len(tokens) != 1:
                raise ResultRefused(f"expected exactly one otp_result, got {len(tokens)}")
            claims = self.server.verifier.verify(tokens[0], return_to=self.server.return_url)
        except ResultRefused as refused:
            verdict, status, text = "refused", HTTPStatus.BAD_REQUEST, refused.reason
        else:
            verdict, status = "accepted", HTTPStatus.OK
            text = f"{claims['flow']} {claims['result']} for contract {claims.get('sub', '-')}"
        body = (f'<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>result</title></head><body>'
                f'<h1>Result</h1><p id="verdict" data-verdict="{verdict}">{verdict}: {html.escape(text)}</p>'
                f'<p><a href="/">back</a></p></body></html>')
        self._send(status, body.encode(), "text/html; charset=utf-8")

    def do_POST(self) -> None:
        """Embed mode: the page hands us the signed result it got by postMessage."""
        if self.path != "/otp/verify":
            self._send(404, b"not found", "text/plain")
            return
        length = min(int(self.headers.get("Content-Length") or 0), 8192)
        try:
            token = str(json.loads(self.rfile.read(length) or b"{}").get("otp_result", ""))
        except (ValueError, AttributeError):
            token = ""
        try:
            claims = self.server.verifier.verify(token, origin=self.server.origin)
            answer: dict[str, Any] = {"verdict": "accepted", "claims": claims}
        except ResultRefused as refused:
            answer = {"verdict": "refused", "reason": refused.reason}
        self._send(200 if answer["verdict"] == "accepted" else 400, json.dumps(answer).encode(), "application/json")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
    parser.add_argument("--public-host", help="Host name the browser uses for this page (e.g. localhost, so that "
                                              "it is another site than a gateway on 127.0.0.1).")
    parser.add_argument("--gateway", default="http://127.0.0.1:5000")
    parser.add_argument("--bank", default="0001")
    parser.add_argument("--result-key", help="The bank's result key (or PARTNER_RESULT_KEY, or --result-key-file).")
    parser.add_argument("--result-key-file", type=Path)
    parser.add_argument("--used-results", default=str(Path(tempfile.gettempdir()) / "otp-partner-used-results.db"),
                        help="SQLite file of the results already accepted (kept across restarts).")
    args = parser.parse_args(argv)
    key = args.result_key or os.environ.get("PARTNER_RESULT_KEY")
    if args.result_key_file:
        key = args.result_key_file.read_text().strip().splitlines()[-1]
    if not key:
        parser.error("give the result key: --result-key-file, --result-key or PARTNER_RESULT_KEY "
                     "(from `otp-gateway bank result-key CODE`)")
    server = PartnerServer(args.host, args.port, args.gateway, args.bank, key, public_host=args.public_host,
                           store=args.used_results)
    print(f"partner page on {server.origin}/ (gateway {server.gateway}, bank {server.bank})")
    print(f"the bank needs: --embed-origin {server.origin} --return-url {server.return_url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
