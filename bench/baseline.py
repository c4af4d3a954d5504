"""The baseline: a bare Flask JSON route, served exactly like the gateway (same server, same workers)."""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/otp/verify")
def verify():  # type: ignore[no-untyped-def]
    body = request.get_json(silent=True) or {}
    return jsonify(result="rejected" if body.get("otp") else "not_registered")


@app.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify(status="ok")
