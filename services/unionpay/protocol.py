"""ACP 5.1.0 message shapes: field validation, China-time stamps, signing by method."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from services.unionpay.keys import MER_ID, KeyMaterial
from services.unionpay.signature import sign_rsa, sign_sha256, verify_rsa, verify_sha256

CHINA_TZ = datetime.timezone(datetime.timedelta(hours=8))
SUCCESS_CODES = frozenset({"00", "A6"})
UNKNOWN_CODES = frozenset({"03", "04", "05"})

RESP_MSG = {
    "00": "success", "01": "transaction failed", "03": "transaction timeout",
    "04": "transaction status unknown", "05": "transaction processing",
    "10": "message format error", "11": "signature verification failed",
    "12": "duplicate transaction", "13": "required field missing", "34": "no such transaction",
}

PURCHASE_REQUIRED = ("version", "encoding", "signMethod", "txnType", "txnSubType", "bizType",
                     "channelType", "accessType", "merId", "orderId", "txnTime", "txnAmt",
                     "currencyCode", "frontUrl", "backUrl", "signature")
QUERY_REQUIRED = ("version", "encoding", "signMethod", "txnType", "txnSubType", "bizType",
                  "accessType", "merId", "orderId", "txnTime", "signature")

_ORDER_ID = re.compile(r"[0-9A-Za-z]{8,40}")
_AMOUNT = re.compile(r"[1-9][0-9]{0,11}")
_STAMP = re.compile(r"[0-9]{14}")
_FIXED_PURCHASE = {"version": "5.1.0", "txnType": "01", "txnSubType": "01", "bizType": "000201",
                   "accessType": "0", "currencyCode": "156", "merId": MER_ID}
_FIXED_QUERY = {"version": "5.1.0", "txnType": "00", "txnSubType": "00", "bizType": "000000",
                "accessType": "0", "merId": MER_ID}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ProtocolError(Exception):
    """A request the gateway refuses: ``resp_code`` (10/11/13...), the HTTP status, the field."""

    def __init__(self, resp_code: str, field: str | None, message: str, status: int = 400):
        super().__init__(message)
        self.resp_code, self.field, self.status = resp_code, field, status


def china_stamp(t_s: float) -> str:
    """Unix seconds → ``YYYYMMDDhhmmss`` in China time (UTC+8)."""
    return datetime.datetime.fromtimestamp(t_s, CHINA_TZ).strftime("%Y%m%d%H%M%S")


def parse_china_stamp(stamp: str) -> float:
    """``YYYYMMDDhhmmss`` (UTC+8) → Unix seconds; raises ValueError."""
    if not _STAMP.fullmatch(stamp):
        raise ValueError("not YYYYMMDDhhmmss")
    return datetime.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TZ).timestamp()


def sign_as_merchant(fields: dict[str, str], keys: KeyMaterial) -> dict[str, str]:
    """Add certId (01) and signature to a merchant request, per its signMethod."""
    if fields["signMethod"] == "01":
        fields["certId"] = keys.merchant_cert_id
        fields["signature"] = sign_rsa(fields, keys.merchant_key)
    else:
        fields["signature"] = sign_sha256(fields, keys.secure_key)
    return fields


def sign_as_gateway(fields: dict[str, str], keys: KeyMaterial) -> dict[str, str]:
    """Add certId, signPubKeyCert (01) and signature to a gateway answer or notification."""
    if fields["signMethod"] == "01":
        fields["certId"] = keys.gateway_cert_id
        fields["signPubKeyCert"] = keys.gateway_cert_pem
        fields["signature"] = sign_rsa(fields, keys.gateway_key)
    else:
        fields["signature"] = sign_sha256(fields, keys.secure_key)
    return fields


def verify_from_gateway(fields: Mapping[str, str], keys: KeyMaterial) -> bool:
    """True when a notification or answer carries a valid gateway signature."""
    method = fields.get("signMethod")
    if method == "11":
        return verify_sha256(fields, keys.secure_key)
    if method == "01":
        return verify_rsa(fields, keys.gateway_cert.public_key())
    return False


def _verify_from_merchant(fields: Mapping[str, str], keys: KeyMaterial) -> None:
    method = fields["signMethod"]
    if method == "11":
        ok = verify_sha256(fields, keys.secure_key)
    elif method == "01":
        if fields.get("certId") != keys.merchant_cert_id:
            raise ProtocolError("11", "certId", "unknown certId", 403)
        ok = verify_rsa(fields, keys.merchant_cert.public_key())
    else:
        raise ProtocolError("10", "signMethod", "signMethod must be 11 or 01")
    if not ok:
        raise ProtocolError("11", "signature", "signature verification failed", 403)


def _check_common(fields: Mapping[str, str], required: tuple[str, ...], fixed: dict, now_s: float,
                  max_age_s: float) -> None:
    for name in required:
        if not fields.get(name):
            raise ProtocolError("13", name, f"required field {name} missing")
    if fields.get("encoding", "").upper() != "UTF-8":
        raise ProtocolError("10", "encoding", "encoding must be UTF-8")
    for name, value in fixed.items():
        if fields[name] != value:
            raise ProtocolError("10", name, f"{name} must be {value}")
    if not _ORDER_ID.fullmatch(fields["orderId"]):
        raise ProtocolError("10", "orderId", "orderId must be 8-40 letters and digits")
    try:
        txn_t_s = parse_china_stamp(fields["txnTime"])
    except ValueError:
        raise ProtocolError("10", "txnTime", "txnTime must be YYYYMMDDhhmmss") from None
    if abs(txn_t_s - now_s) > max_age_s:
        raise ProtocolError("10", "txnTime", f"txnTime is stale (more than {max_age_s:g} s from now)")


def validate_purchase(fields: Mapping[str, str], keys: KeyMaterial, now_s: float,
                      notify_hosts: frozenset[str] = LOOPBACK_HOSTS) -> None:
    """Check a frontTransReq.do form; raises :class:`ProtocolError` naming the field.
    ``notify_hosts``: where the simulator may send notifications (loopback, and the platform's
    own address when it is bound elsewhere: ``harness shop --bind``)."""
    _check_common(fields, PURCHASE_REQUIRED, _FIXED_PURCHASE, now_s, 3600.0)
    if fields["signMethod"] not in ("11", "01"):
        raise ProtocolError("10", "signMethod", "signMethod must be 11 or 01")
    if fields["channelType"] not in ("07", "08"):
        raise ProtocolError("10", "channelType", "channelType must be 07 or 08")
    if not _AMOUNT.fullmatch(fields["txnAmt"]):
        raise ProtocolError("10", "txnAmt", "txnAmt must be a positive integer in fen")
    for name in ("frontUrl", "backUrl"):
        url = urlsplit(fields[name])
        if url.scheme not in ("http", "https") or url.hostname not in notify_hosts:
            raise ProtocolError("10", name, f"{name} must be an http URL on loopback or the platform's own "
                                            f"address (simulator)")
    if fields.get("payTimeout"):
        try:
            parse_china_stamp(fields["payTimeout"])
        except ValueError:
            raise ProtocolError("10", "payTimeout", "payTimeout must be YYYYMMDDhhmmss") from None
    _verify_from_merchant(fields, keys)


def validate_query(fields: Mapping[str, str], keys: KeyMaterial, now_s: float) -> None:
    """Check a queryTrans.do form; raises :class:`ProtocolError` naming the field."""
    _check_common(fields, QUERY_REQUIRED, _FIXED_QUERY, now_s, 7 * 86400.0)
    _verify_from_merchant(fields, keys)
