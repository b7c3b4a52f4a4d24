"""Snowplow enriched events: the enriched TSV (131 fields, no header) or its JSON form (the analytics SDKs'
transform, one object a line, same field names).

The user is ``user_id`` → ``domain_userid`` → ``network_userid``; the session ``domain_sessionid``; the time
``derived_tstamp`` → ``dvce_created_tstamp`` → ``collector_tstamp``. The action is ``event_name``; a page view
is ``page_view <templated page path>`` and a structured event ``<se_category>/<se_action>``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import BinaryIO

from tracereplay.errors import InputError
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import RawBatch
from tracereplay.ingest.readers.analytics import EventRows, read_json_events
from tracereplay.ingest.sniff import Peekable
from tracereplay.ingest.templating import template_path

NAME = "snowplow"
#: the enriched TSV's field order (Snowplow docs, "Enriched stream TSV file format")
FIELDS: tuple[str, ...] = (
    "app_id", "platform", "etl_tstamp", "collector_tstamp", "dvce_created_tstamp", "event", "event_id",
    "txn_id", "name_tracker", "v_tracker", "v_collector", "v_etl", "user_id", "user_ipaddress",
    "user_fingerprint", "domain_userid", "domain_sessionidx", "network_userid", "geo_country", "geo_region",
    "geo_city", "geo_zipcode", "geo_latitude", "geo_longitude", "geo_region_name", "ip_isp",
    "ip_organization", "ip_domain", "ip_netspeed", "page_url", "page_title", "page_referrer",
    "page_urlscheme", "page_urlhost", "page_urlport", "page_urlpath", "page_urlquery", "page_urlfragment",
    "refr_urlscheme", "refr_urlhost", "refr_urlport", "refr_urlpath", "refr_urlquery", "refr_urlfragment",
    "refr_medium", "refr_source", "refr_term", "mkt_medium", "mkt_source", "mkt_term", "mkt_content",
    "mkt_campaign", "contexts", "se_category", "se_action", "se_label", "se_property", "se_value",
    "unstruct_event", "tr_orderid", "tr_affiliation", "tr_total", "tr_tax", "tr_shipping", "tr_city",
    "tr_state", "tr_country", "ti_orderid", "ti_sku", "ti_name", "ti_category", "ti_price", "ti_quantity",
    "pp_xoffset_min", "pp_xoffset_max", "pp_yoffset_min", "pp_yoffset_max", "useragent", "br_name",
    "br_family", "br_version", "br_type", "br_renderengine", "br_lang", "br_features_pdf",
    "br_features_flash", "br_features_java", "br_features_director", "br_features_quicktime",
    "br_features_realplayer", "br_features_windowsmedia", "br_features_gears", "br_features_silverlight",
    "br_cookies", "br_colordepth", "br_viewwidth", "br_viewheight", "os_name", "os_family",
    "os_manufacturer", "os_timezone", "dvce_type", "dvce_ismobile", "dvce_screenwidth", "dvce_screenheight",
    "doc_charset", "doc_width", "doc_height", "tr_currency", "tr_total_base", "tr_tax_base",
    "tr_shipping_base", "ti_currency", "ti_price_base", "base_currency", "geo_timezone", "mkt_clickid",
    "mkt_network", "etl_tags", "dvce_sent_tstamp", "refr_domain_userid", "refr_device_tstamp",
    "derived_contexts", "domain_sessionid", "derived_tstamp", "event_vendor", "event_name", "event_format",
    "event_version", "event_fingerprint", "true_tstamp",
)
USER_KEYS = ("user_id", "domain_userid", "network_userid")
TIME_KEYS = ("derived_tstamp", "dvce_created_tstamp", "collector_tstamp")
_INDEX = {name: i for i, name in enumerate(FIELDS)}
_WANTED = ("event", "event_name", "se_category", "se_action", "page_urlpath", "domain_sessionid",
           *USER_KEYS, *TIME_KEYS)


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    head = stream.peek(1)[:1] if isinstance(stream, Peekable) else b""
    if head in (b"{", b"["):
        yield from _read_json(path, stream, options)
    else:
        yield from _read_tsv(path, stream, options)


def _read_tsv(path: Path, stream: BinaryIO, options: IngestOptions) -> Iterator[RawBatch]:
    rows = EventRows(NAME)
    positions = [_INDEX[name] for name in _WANTED]
    for number, line in enumerate(stream, start=1):
        text = line.rstrip(b"\r\n")
        if not text:
            continue
        fields = text.split(b"\t")
        if len(fields) != len(FIELDS):
            raise InputError(path, f"not a Snowplow enriched event: {len(fields)} tab-separated fields, "
                                   f"expected {len(FIELDS)}", where=f"line {number}")
        try:
            record = {name: fields[i].decode("utf-8") for name, i in zip(_WANTED, positions, strict=True)}
        except UnicodeDecodeError:
            raise InputError(path, "not UTF-8 text", where=f"line {number}") from None
        _add(rows, record)
        if len(rows) >= options.batch_spans:
            yield rows.finish()
            rows = EventRows(NAME)
    yield rows.finish()


def _read_json(path: Path, stream: BinaryIO, options: IngestOptions) -> Iterator[RawBatch]:
    return read_json_events(
        path, stream, options, source=NAME, label="Snowplow enriched event", containers=("data", "events"),
        add=_add,
    )


def _add(rows: EventRows, record: dict) -> None:
    rows.read += 1
    if "event_id" not in record and "event" not in record and "event_name" not in record:
        raise KeyError("event_name")
    user = key = None
    for name in USER_KEYS:
        if record.get(name):
            user, key = record[name], name
            break
    time = next((record[k] for k in TIME_KEYS if record.get(k)), None)
    event_name = record.get("event_name") or record.get("event")
    path = record.get("page_urlpath") or None
    if event_name == "page_view" and path:
        action = f"page_view {template_path(path)}"
    elif record.get("event") == "struct" and record.get("se_action"):
        action = f"{record.get('se_category') or ''}/{record['se_action']}"
    else:
        action = event_name
    rows.add(time, user, key, record.get("domain_sessionid"), action, path)
