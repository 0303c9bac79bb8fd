"""The gateway simulator: signature methods (known vectors, computed independently here),
field validation, duplicate orderId, query semantics, settlement."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.unionpay.keys import MER_ID
from services.unionpay.protocol import china_stamp, sign_as_gateway, verify_from_gateway
from services.unionpay.signature import sign_rsa, sign_sha256, string_to_sign, verify_rsa, verify_sha256
from tests.platform._helpers import http

VECTOR_FIELDS = {"version": "5.1.0", "txnAmt": "100", "orderId": "ORDER0001", "merId": MER_ID,
                 "signMethod": "11", "signature": "ignored", "signPubKeyCert": "ignored"}
VECTOR_STRING = "merId=777290058110048&orderId=ORDER0001&signMethod=11&txnAmt=100&version=5.1.0"


def test_string_to_sign_sorts_keys_and_drops_signature_fields():
    assert string_to_sign(VECTOR_FIELDS) == VECTOR_STRING


def test_sign_method_11_known_vector():
    key_hex = hashlib.sha256(b"0123456789abcdef").hexdigest()
    expected = hashlib.sha256(f"{VECTOR_STRING}&{key_hex}".encode()).hexdigest()
    assert expected == "2d2757b7d955d2f501e2591c837f75f0c07a449ac13ee4ef35a1d3cc4a7fe445"
    assert sign_sha256(VECTOR_FIELDS, "0123456789abcdef") == expected
    assert verify_sha256({**VECTOR_FIELDS, "signature": expected}, "0123456789abcdef")
    assert not verify_sha256({**VECTOR_FIELDS, "signature": expected, "txnAmt": "101"}, "0123456789abcdef")
    assert not verify_sha256({**VECTOR_FIELDS, "signature": expected}, "another-key")


def test_sign_method_01_matches_independent_rsa_pkcs1v15():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    digest_hex = hashlib.sha256(VECTOR_STRING.encode()).hexdigest().encode()
    # PKCS#1 v1.5 is deterministic: the same key and message give the same bytes.
    expected = base64.b64encode(key.sign(digest_hex, padding.PKCS1v15(), hashes.SHA256())).decode()
    assert sign_rsa(VECTOR_FIELDS, key) == expected
    signed = {**VECTOR_FIELDS, "signature": expected}
    assert verify_rsa(signed, key.public_key())
    assert not verify_rsa({**signed, "orderId": "ORDER0002"}, key.public_key())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not verify_rsa(signed, other.public_key())
    assert not verify_rsa({**signed, "signature": "%%%not-base64"}, key.public_key())


def purchase(keys, method: str, order_id: str, amount: str = "1234", **overrides) -> dict:
    """A signed purchase form built here (not by the shop)."""
    fields = {"version": "5.1.0", "encoding": "UTF-8", "signMethod": method, "txnType": "01", "txnSubType": "01",
              "bizType": "000201", "channelType": "07", "accessType": "0", "merId": MER_ID, "orderId": order_id,
              "txnTime": china_stamp(time.time()), "txnAmt": amount, "currencyCode": "156",
              "frontUrl": "http://127.0.0.1:9/front", "backUrl": "http://127.0.0.1:9/back",
              "payTimeout": china_stamp(time.time() + 900)}
    fields.update(overrides)
    if method == "01":
        fields["certId"] = str(keys.merchant_cert.serial_number)
        fields["signature"] = sign_rsa(fields, keys.merchant_key)
    else:
        fields["signature"] = sign_sha256(fields, keys.secure_key)
    return fields


def query(platform, keys, method: str, order_id: str, txn_time: str) -> dict:
    fields = {"version": "5.1.0", "encoding": "UTF-8", "signMethod": method, "txnType": "00", "txnSubType": "00",
              "bizType": "000000", "accessType": "0", "merId": MER_ID, "orderId": order_id, "txnTime": txn_time}
    if method == "01":
        fields["certId"] = str(keys.merchant_cert.serial_number)
        fields["signature"] = sign_rsa(fields, keys.merchant_key)
    else:
        fields["signature"] = sign_sha256(fields, keys.secure_key)
    answer = http().post(f"{platform.gateway_url}/gateway/api/queryTrans.do", data=fields)
    assert answer.status_code == 200, answer.text
    assert verify_from_gateway(answer.json(), keys)
    return answer.json()


def front(platform, fields) -> dict:
    return http().post(f"{platform.gateway_url}/gateway/api/frontTransReq.do", data=fields,
                       headers={"Accept": "application/json"})


def confirm(platform, token: str):
    return http().post(f"{platform.gateway_url}/gateway/cashier/confirm", json={"txn_token": token})


def unique_order_id(prefix: str) -> str:
    return f"{prefix}{time.time_ns()}"[:40]


@pytest.mark.parametrize("method", ["11", "01"])
def test_both_sign_methods_pay_and_query(faults, keys, method):
    order_id = unique_order_id(f"T{method}")
    fields = purchase(keys, method, order_id)
    assert query(faults, keys, method, order_id, fields["txnTime"])["respCode"] == "34"  # never sent
    answer = front(faults, fields)
    assert answer.status_code == 200 and set(answer.json()) == {"txn_token", "cashier_url"}
    assert query(faults, keys, method, order_id, fields["txnTime"])["respCode"] == "34"  # not yet paid
    done = confirm(faults, answer.json()["txn_token"])
    assert done.status_code == 200 and done.json()["respCode"] == "00" and done.json()["orderId"] == order_id
    assert confirm(faults, answer.json()["txn_token"]).json() == done.json()  # idempotent
    result = query(faults, keys, method, order_id, fields["txnTime"])
    assert (result["respCode"], result["origRespCode"]) == ("00", "00")
    assert result["queryId"] == done.json()["queryId"] and result["txnAmt"] == "1234"
    if method == "01":
        assert result["signPubKeyCert"].startswith("-----BEGIN CERTIFICATE-----")
    settled = http().get(f"{faults.gateway_url}/sim/settlement").json()["transactions"]
    assert [t["txnAmt"] for t in settled if t["orderId"] == order_id] == ["1234"]


@pytest.mark.parametrize("method", ["11", "01"])
def test_tampered_or_unsigned_requests_are_refused(platform, keys, method):
    fields = purchase(keys, method, unique_order_id("B"))
    tampered = front(platform, {**fields, "txnAmt": "1"})
    assert tampered.status_code == 403 and tampered.json()["respCode"] == "11"
    missing = {k: v for k, v in fields.items() if k != "signature"}
    assert front(platform, missing).json()["respCode"] == "13"


@pytest.mark.parametrize(("field", "value", "code"), [
    ("orderId", "SHORT", "10"), ("orderId", "HAS-DASH-1234", "10"), ("txnAmt", "12.5", "10"),
    ("txnAmt", "0", "10"), ("txnTime", "2020", "10"), ("currencyCode", "840", "10"), ("txnType", "02", "10"),
    ("channelType", "09", "10"), ("signMethod", "02", "10"), ("backUrl", "http://example.com/x", "10"),
    ("merId", "123", "10"), ("payTimeout", "soon", "10"), ("version", "", "13"),
])
def test_front_request_field_validation(platform, keys, field, value, code):
    fields = purchase(keys, "11", unique_order_id("V"), **{field: value})
    answer = front(platform, fields)
    assert answer.status_code == 400
    assert answer.json()["respCode"] == code and answer.json()["field"] == field


def test_stale_txn_time_is_refused(platform, keys):
    fields = purchase(keys, "11", unique_order_id("S"), txnTime=china_stamp(time.time() - 7200))
    answer = front(platform, fields)
    assert answer.json()["respCode"] == "10" and answer.json()["field"] == "txnTime"


def test_duplicate_order_id_is_12(platform, keys):
    order_id = unique_order_id("D")
    first = purchase(keys, "11", order_id)
    token = front(platform, first).json()["txn_token"]
    assert front(platform, first).json()["txn_token"] == token  # the same request again
    other = purchase(keys, "11", order_id, amount="999")
    answer = front(platform, other)
    assert answer.status_code == 409 and answer.json()["respCode"] == "12"


def test_query_declined_and_unknown_results(faults, keys):
    faults.gateway_faults(decline_rate=1.0)
    declined_id = unique_order_id("N")
    fields = purchase(keys, "11", declined_id)
    assert confirm(faults, front(faults, fields).json()["txn_token"]).json()["respCode"] == "01"
    result = query(faults, keys, "11", declined_id, fields["txnTime"])
    assert (result["respCode"], result["origRespCode"]) == ("00", "01")
    # unknown for 60 protocol seconds = 1 wall second at the default time scale
    faults.gateway_faults(decline_rate=0.0, unknown_result_rate=1.0, unknown_result_s=60)
    unknown_id = unique_order_id("U")
    fields = purchase(keys, "11", unknown_id)
    assert confirm(faults, front(faults, fields).json()["txn_token"]).json()["respCode"] == "00"
    early = query(faults, keys, "11", unknown_id, fields["txnTime"])
    assert early["respCode"] == "00" and early["origRespCode"] in ("03", "04", "05")
    deadline = time.monotonic() + 20
    while (late := query(faults, keys, "11", unknown_id, fields["txnTime"]))["origRespCode"] != "00":
        assert time.monotonic() < deadline, "the unknown window never ended"
        time.sleep(0.1)
    assert late["respCode"] == "00"
    wrong_time = query(faults, keys, "11", unknown_id, china_stamp(time.time() - 60))
    assert wrong_time["respCode"] == "34"


def test_confirm_after_pay_timeout_is_refused(platform, keys):
    fields = purchase(keys, "11", unique_order_id("E"), payTimeout=china_stamp(time.time() - 5))
    answer = confirm(platform, front(platform, fields).json()["txn_token"])
    assert answer.status_code == 200 and answer.json()["respCode"] == "01"
    assert query(platform, keys, "11", fields["orderId"], fields["txnTime"])["respCode"] == "34"


def test_gateway_answers_are_signed_with_its_own_key(keys):
    fields = sign_as_gateway({"signMethod": "01", "orderId": "X12345678"}, keys)
    assert verify_from_gateway(fields, keys)
    assert not verify_from_gateway({**fields, "orderId": "X12345679"}, keys)
    assert not verify_from_gateway({**fields, "signMethod": "07"}, keys)


def test_confirm_input_errors(platform):
    assert confirm(platform, "no-such-token").status_code == 404
    missing = http().post(f"{platform.gateway_url}/gateway/cashier/confirm", json={})
    assert missing.status_code == 422 and missing.json()["field"] == "txn_token"
    bad_json = http().post(f"{platform.gateway_url}/gateway/cashier/confirm", data=b"{nope",
                           headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["field"] == "body"
