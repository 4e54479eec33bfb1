"""The lists a dispute is described with: reason codes and root causes (the tenant may change both),
the evaluation checklist and the teams a task goes to (fixed)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.disputes.models import CodeKind
from backend.i18n import _


@dataclass(frozen=True)
class Code:
    kind: CodeKind
    code: str
    label_en: str
    label_zh: str
    position: int = 0
    active: bool = True

    def label(self, language: str | None) -> str:
        return self.label_zh if (language or "").lower().startswith("zh") else self.label_en


# The seeds' dispute types. Quality and delivery make up about 60% of disputes, so they lead.
DEFAULT_REASONS = (
    ("quality", "Quality / specification", "质量/规格问题"),
    ("late_delivery", "Late delivery", "延迟交货"),
    ("quantity", "Quantity difference", "数量差异"),
    ("price", "Price or calculation error", "价格或计算错误"),
    ("payment_terms", "Payment-terms misunderstanding", "付款条件误解"),
    ("contract_terms", "Contract terms", "合同条款争议"),
    ("duplicate_billing", "Duplicate billing", "重复开票"),
    ("missing_order", "Missing order", "无对应订单"),
    ("other", "Other", "其他"),
)
DEFAULT_ROOT_CAUSES = (
    ("product_defect", "Product defect", "产品缺陷"),
    ("logistics", "Shipping or logistics error", "运输或物流差错"),
    ("order_entry", "Order entry error", "订单录入错误"),
    ("pricing", "Pricing or billing error", "定价或开票错误"),
    ("contract_ambiguity", "Unclear contract terms", "合同条款不清"),
    ("buyer_misunderstanding", "Buyer misunderstanding", "买方误解"),
    ("buyer_liquidity", "Buyer cash-flow difficulty", "买方资金困难"),
    ("other", "Other", "其他"),
)


def default_codes(kind: CodeKind) -> list[Code]:
    rows = DEFAULT_REASONS if kind is CodeKind.REASON else DEFAULT_ROOT_CAUSES
    return [Code(kind, code, en, zh, position) for position, (code, en, zh) in enumerate(rows)]


# The seeds' evaluation checklist (内部评估): each is answered yes / no / unknown, with a note.
CHECKLIST = {
    "contract_terms_met": _("Were the contract terms met?"),
    "delivery_proven": _("Was the delivery made as agreed, with proof of delivery?"),
    "similar_past_disputes": _("Has this buyer raised the same kind of dispute before?"),
    "market_change": _("Has the market changed (prices, demand, the buyer's situation)?"),
}
ANSWERS = {"yes": _("Yes"), "no": _("No"), "unknown": _("Not known yet")}

TEAMS = {
    "sales": _("Sales"),
    "logistics": _("Logistics"),
    "quality": _("Quality"),
    "finance": _("Finance"),
    "other": _("Other"),
}
