"""Console › Dispute settings: changed through plain forms and through htmx, refusals beside their
field with nothing kept, read-only for those who only read, and another supplier's rules are 404."""

from __future__ import annotations

from decimal import Decimal as D

from backend.disputes import settings
from backend.disputes.models import CodeKind
from tests.conftest import csrf_token, sign_in
from tests.disputes.helpers import uow
from tests.disputes.test_settings import add_rule, join
from tests.factories import make_buyer, owner_of

PAGE = "/console/dispute-settings"
HTMX = {"HX-Request": "true"}


async def _settings(supplier):
    async with uow(supplier) as session:
        principal = owner_of(supplier)
        return (
            await settings.get_settings(session, principal),
            {c.code: c for c in await settings.list_codes(session, principal, CodeKind.REASON)},
            await settings.list_rules(session, principal),
        )


async def test_thresholds_and_escalation_are_saved_through_the_plain_form(client, world):
    await sign_in(client, world.a.finance)
    page = await client.get(PAGE)
    assert page.status_code == 200 and "Quality / specification" in page.text and "质量/规格问题" in page.text
    token = await csrf_token(client, PAGE)
    saved = await client.post(
        f"{PAGE}/general",
        data={"_csrf_token": token, "new_currency": "cny", "new_threshold": "50000", "escalation_days": "75"},
        follow_redirects=False,
    )
    assert (saved.status_code, saved.headers["location"]) == (303, f"{PAGE}?saved=general#general")
    view, _codes, _rules = await _settings(world.a)
    assert (view.approval_thresholds, view.escalation_days) == ({"CNY": D("50000.00")}, 75)
    # Emptying a threshold removes it; a bad one is refused beside its field and nothing changes.
    refused = await client.post(
        f"{PAGE}/general",
        data={"_csrf_token": token, "threshold_CNY": "", "new_currency": "XYZ", "new_threshold": "10", "escalation_days": "75"},
    )
    assert refused.status_code == 422 and 'id="new-threshold-error"' in refused.text and "XYZ" in refused.text
    assert 'value="XYZ"' in refused.text  # what was typed stays
    days = await client.post(f"{PAGE}/general", data={"_csrf_token": token, "threshold_CNY": "50000.00", "escalation_days": "30"})
    assert days.status_code == 422 and 'id="escalation-days-error"' in days.text
    assert (await _settings(world.a))[0].escalation_days == 75
    removed = await client.post(f"{PAGE}/general", data={"_csrf_token": token, "threshold_CNY": "", "escalation_days": "90"})
    assert removed.status_code == 200  # followed to the page
    assert (await _settings(world.a))[0].approval_thresholds == {}


async def test_codes_are_added_renamed_moved_and_taken_out_of_use_in_place_with_htmx(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, PAGE)
    added = await client.post(
        f"{PAGE}/codes/reason",
        data={"_csrf_token": token, "code": "wrong_colour", "label_en": "Wrong colour", "label_zh": "颜色不符"},
        headers=HTMX,
    )
    assert added.status_code == 200 and 'id="code-reason-wrong_colour"' in added.text
    bad = await client.post(
        f"{PAGE}/codes/reason",
        data={"_csrf_token": token, "code": "Wrong Colour", "label_en": "x", "label_zh": "y"},
        headers=HTMX,
    )
    assert bad.status_code == 422 and 'id="add-reason-code-error"' in bad.text and 'value="Wrong Colour"' in bad.text
    renamed = await client.post(
        f"{PAGE}/codes/reason/late_delivery",
        data={"_csrf_token": token, "label_en": "Delivered late", "label_zh": "交货延迟", "action": "save"},
        headers=HTMX,
    )
    assert renamed.status_code == 200 and "Delivered late" in renamed.text
    empty = await client.post(
        f"{PAGE}/codes/reason/late_delivery", data={"_csrf_token": token, "label_en": "", "label_zh": "x", "action": "save"}
    )
    assert empty.status_code == 422 and 'id="code-reason-late_delivery-en-error"' in empty.text
    moved = await client.post(
        f"{PAGE}/codes/reason/late_delivery", data={"_csrf_token": token, "action": "up"}, follow_redirects=False
    )
    assert moved.status_code == 303
    off = await client.post(f"{PAGE}/codes/reason/quality", data={"_csrf_token": token, "action": "deactivate"}, headers=HTMX)
    assert off.status_code == 200 and "Use again" in off.text
    _view, codes, _rules = await _settings(world.a)
    assert codes["late_delivery"].label_en == "Delivered late" and codes["late_delivery"].position == 0
    assert codes["quality"].active is False and codes["wrong_colour"].label_zh == "颜色不符"
    assert (await client.post(f"{PAGE}/codes/colour", data={"_csrf_token": token, "code": "x1"})).status_code == 404


async def test_routing_rules_are_created_changed_moved_and_deleted_through_forms(client, world):
    wang, li = await join(world.a, "Wang"), await join(world.a, "Li")
    buyer_id = await make_buyer(world.a, "Acme Trading Ltd")
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, PAGE)
    page = await client.get(PAGE)
    assert f'value="{wang.id}"' in page.text and "Acme Trading Ltd" in page.text
    created = await client.post(
        f"{PAGE}/rules",
        data={
            "_csrf_token": token,
            "name": "Quality desk",
            "reason_code": "quality",
            "pool": [str(wang.id), str(li.id)],
            "active": "1",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    refused = await client.post(
        f"{PAGE}/rules", data={"_csrf_token": token, "name": "Nothing to match", "owner_user_id": str(wang.id)}, headers=HTMX
    )
    assert (
        refused.status_code == 422 and 'id="add-rule-reason-error"' in refused.text and 'value="Nothing to match"' in refused.text
    )
    second = await client.post(
        f"{PAGE}/rules",
        data={"_csrf_token": token, "name": "Acme", "buyer_id": str(buyer_id), "owner_user_id": str(li.id), "active": "1"},
        headers=HTMX,
    )
    assert second.status_code == 200 and "Acme" in second.text
    _view, _codes, rules = await _settings(world.a)
    assert [r.name for r in rules] == ["Quality desk", "Acme"] and rules[0].pool == [str(wang.id), str(li.id)]
    moved = await client.post(f"{PAGE}/rules/{rules[1].id}/move", data={"_csrf_token": token, "direction": "up"}, headers=HTMX)
    assert moved.status_code == 200
    changed = await client.post(
        f"{PAGE}/rules/{rules[0].id}",
        data={
            "_csrf_token": token,
            "name": "Large quality",
            "reason_code": "quality",
            "min_amount": "5000",
            "currency": "CNY",
            "owner_user_id": str(wang.id),
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    _view, _codes, rules = await _settings(world.a)
    assert [r.name for r in rules] == ["Acme", "Large quality"]
    assert (rules[1].owner_user_id, rules[1].pool, rules[1].min_amount, rules[1].active) == (wang.id, [], D("5000"), False)
    deleted = await client.post(f"{PAGE}/rules/{rules[0].id}/delete", data={"_csrf_token": token}, follow_redirects=False)
    assert deleted.status_code == 303
    assert [r.name for r in (await _settings(world.a))[2]] == ["Large quality"]


async def test_a_collaborator_reads_the_settings_but_finds_no_form_and_cannot_post(client, world):
    wang = await join(world.a, "Wang")
    rule_id = await add_rule(world.a, name="Quality desk", reason_code="quality", owner_user_id=wang.id)
    await sign_in(client, world.a.collaborator)
    page = await client.get(PAGE)
    assert page.status_code == 200 and "Quality desk" in page.text and "Only credit managers" in page.text
    assert 'action="/console/dispute-settings/' not in page.text
    token = await csrf_token(client, PAGE)
    posts = [
        (f"{PAGE}/general", {"escalation_days": "60"}),
        (f"{PAGE}/codes/reason", {"code": "sneaky", "label_en": "a", "label_zh": "b"}),
        (f"{PAGE}/codes/reason/quality", {"action": "deactivate"}),
        (f"{PAGE}/rules", {"name": "Mine", "reason_code": "quality", "owner_user_id": str(wang.id)}),
        (f"{PAGE}/rules/{rule_id}", {"name": "Mine", "reason_code": "quality", "owner_user_id": str(wang.id)}),
        (f"{PAGE}/rules/{rule_id}/delete", {}),
    ]
    for path, data in posts:
        assert (await client.post(path, data={"_csrf_token": token, **data})).status_code == 403, path
    view, codes, rules = await _settings(world.a)
    assert view.escalation_days == 90 and "sneaky" not in codes and codes["quality"].active and len(rules) == 1


async def test_another_supplier_finds_none_of_these_rules(client, world):
    wang = await join(world.a, "Wang")
    rule_id = await add_rule(world.a, name="A's quality desk", reason_code="quality", owner_user_id=wang.id)
    await sign_in(client, world.b.finance)
    page = await client.get(PAGE)
    assert "A&#39;s quality desk" not in page.text and "A's quality desk" not in page.text and str(wang.id) not in page.text
    token = await csrf_token(client, PAGE)
    body = {"_csrf_token": token, "name": "Taken", "reason_code": "quality", "owner_user_id": str(world.b.finance.user_id)}
    for path, data in [
        (f"{PAGE}/rules/{rule_id}", body),
        (f"{PAGE}/rules/{rule_id}/move", {"_csrf_token": token, "direction": "down"}),
        (f"{PAGE}/rules/{rule_id}/delete", {"_csrf_token": token}),
    ]:
        assert (await client.post(path, data=data)).status_code == 404, path
    assert [r.name for r in (await _settings(world.a))[2]] == ["A's quality desk"]
