"""Answers compressed once and sent in the encoding the client accepts: brotli, else gzip, else as they are.

For the two answers every banner waits for (the widget script and its config): compressed when they
are built, not per request, so a request costs a dictionary lookup. Each encoding has its own ETag,
and the answer varies on Accept-Encoding, so no cache hands one client's encoding to another.
"""
import gzip
import hashlib

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


def etag_of(body):
    """The validator of an answer's body: 128 bits of its SHA-256."""
    return hashlib.sha256(body).hexdigest()[:32]


def accepted_encoding():
    """The encoding this request gets: the first of ENCODINGS its Accept-Encoding allows, else "identity"."""
    accepted = request.accept_encodings
    return next((encoding for encoding in ENCODINGS if accepted.quality(encoding) > 0), "identity")


def compressed_response(bodies, etag, mimetype):
    """The answer in the accepted encoding, revalidated on every use."""
    encoding = accepted_encoding()
    headers = {"Vary": "Accept-Encoding"}
    if encoding != "identity":
        headers["Content-Encoding"] = encoding
    return revalidated_response(bodies[encoding], f"{etag}-{encoding}", mimetype, headers)


def revalidated_response(body, etag, mimetype, headers=None):
    """An answer browsers revalidate on every use: a 304 without a body while `etag` still matches."""
    response = current_app.response_class(body, mimetype=mimetype, headers=headers)
    response.set_etag(etag)
    response.cache_control.no_cache = True
    return response.make_conditional(request)
