"""Read an edit's ``multipart/form-data`` body part by part, each part under its cap.

aiohttp's ``request.post()`` would buffer the whole form (up to the app's ``client_max_size``, 32
MiB here for the KServe pass-through) before anything could be checked; its multipart reader
streams instead, so each part is counted as it arrives and refused the moment it passes its cap:
a file part at ``max_file_bytes`` (413 naming the field), the text parts together at
``max_fields_bytes`` (413). A ``Content-Length`` above what a valid form can need is refused before
anything is read (``declared_size``). Whatever is left unread after a refusal is aiohttp's to discard (it reads and
drops it for at most its ``lingering_time``, 10 s, then closes), so a refused upload is never held.

The deadline for the whole body is the caller's (``routes``): sizes are bounded here, time there.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from diffusion_operator.activator.openai import errors
from diffusion_operator.activator.openai.edits import FILE_PARTS, Form

#: Bytes read at a time from one part.
CHUNK_BYTES = 64 * 1024
#: Per file part and per form, what multipart framing adds (boundaries, part headers): generous.
FRAMING_BYTES = 64 * 1024


def largest_form(max_file_bytes: int, max_fields_bytes: int) -> int:
    """The longest body a valid edit can have: an image, a mask, the text fields and their framing."""
    return 2 * max_file_bytes + max_fields_bytes + FRAMING_BYTES


def declared_size(request: web.Request, max_file_bytes: int, max_fields_bytes: int) -> int:
    """The bytes this body may take: its ``Content-Length`` (413 beyond a valid form's), else (chunked)
    the largest valid form."""
    largest = largest_form(max_file_bytes, max_fields_bytes)
    if request.content_length is not None and request.content_length > largest:
        raise errors.too_large(largest)
    return largest if request.content_length is None else request.content_length


async def _read_part(part: BodyPartReader, limit: int, param: str | None, reported_limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise errors.too_large(reported_limit, param)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: web.Request, max_file_bytes: int, max_fields_bytes: int) -> Form:
    """The form's text fields and file parts (``edits.FILE_PARTS``); ``ApiError`` 400/413 when malformed or too big."""
    if request.content_type == "application/x-www-form-urlencoded":  # a form, but one that cannot carry a file
        raise errors.invalid("image", "Missing required parameter: 'image'. Send multipart/form-data with the "
                                      "image as a file part.", code="missing_required_parameter")
    if request.content_type != "multipart/form-data":
        raise errors.invalid(None, f"POST /v1/images/edits takes multipart/form-data (the image as a file part), "
                                   f"not {request.content_type or 'an untyped body'}.", code=None)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    fields_left = max_fields_bytes
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                raise errors.invalid(None, "Every part of the form must be a named field or file (no nested forms).",
                                     code=None)
            if part.name in FILE_PARTS:
                name = FILE_PARTS[part.name]
                if name in files:
                    raise errors.invalid(name, f"Send one '{name}': the photoshoot pipeline edits one photo.")
                files[name] = await _read_part(part, max_file_bytes, name, max_file_bytes)
                continue
            if part.name in fields:
                raise errors.invalid(part.name, f"'{part.name}' was sent more than once.")
            data = await _read_part(part, fields_left, None, max_fields_bytes)
            fields_left -= len(data)
            fields[part.name] = data.decode(part.get_charset("utf-8"))
    except (ValueError, LookupError) as error:  # a malformed form, an unknown charset, bytes that are not text
        raise errors.invalid(None, f"We could not parse the multipart form of your request: {error}.",
                             code=None) from None
    return Form(fields, files)
