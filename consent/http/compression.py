"""Answers compressed once and sent in the encoding the client accepts: brotli, else gzip, else as they are.

For the two answers every banner waits for (the widget script and its config): compressed when they
are built, not per request, so a request costs a dictionary lookup. Each encoding has its own ETag,
and the answer varies on Accept-Encoding, so no cache hands one client's encoding to another.
"""
import gzip

import brotli
from flask import current_app, request

# Smallest first: the first one the client accepts is sent.
ENCODINGS = ("br", "gzip")


def encoded_bodies(body):
    """{encoding: bytes} of `body`: brotli, gzip (no timestamp, so the bytes depend on the body alone) and as is."""
    return {
        "br": brotli.compress(body, quality=11, mode=brotli.MODE_TEXT),
        "gzip": gzip.compress(body, compresslevel=9, mtime=0),
        "identity": body,
    }


def accepted_encoding():
    """The encoding this request gets: the first of ENCODINGS its Accept-Encoding allows, else "identity"."""
    accepted = request.accept_encodings
    return next((encoding for encoding in ENCODINGS if accepted.quality(encoding) > 0), "identity")


def compressed_response(bodies, etag, mimetype):
    """The answer in the accepted encoding, revalidated on every use (a 304 without a body when unchanged)."""
    encoding = accepted_encoding()
    response = current_app.response_class(bodies[encoding], mimetype=mimetype)
    if encoding != "identity":
        response.headers["Content-Encoding"] = encoding
    response.vary.add("Accept-Encoding")
    response.set_etag(f"{etag}-{encoding}")
    response.cache_control.no_cache = True
    return response.make_conditional(request)
