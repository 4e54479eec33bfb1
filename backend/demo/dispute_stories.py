"""What the demo suppliers' teams went through with their buyers' disputes over the last months.

One story per case. The seed plays them oldest first (`ago`, in days before today); that order
decides which open invoice a story gets and whose turn a round-robin rule gives. Texts to the
buyer are in the buyer's language; internal notes in the language of whoever writes them. Braces
name facts of the case's invoice: {invoice}, {po}, {product}, {sku}, {qty}, {unit}, {short},
{line_no}, {unit_price}, {open}, {amount}, {o1} (the latest offer's first amount), {contact}, ...
"""

from __future__ import annotations

from backend.demo.disputes import (
    Ack,
    Answer,
    Assign,
    Cast,
    Check,
    Colleague,
    Decide,
    Evidence,
    Item,
    Message,
    Move,
    Note,
    Offer,
    Option,
    Payment,
    Pdf,
    Photo,
    Reply,
    Resolve,
    Rule,
    Story,
    Task,
)
from backend.demo.seed import DEMO_LOGIN
from backend.tenants.models import Role

# --- 华东精密制造有限公司 ----------------------------------------------------------------------------

_HD_FOOTER_QUALITY = "华东精密制造有限公司 质量部"

# Scripts read best a step to a line, as a team would log them.
# fmt: off
HUADONG_STORIES = (
    Story(
        "KH-0108", "quantity", "email", ago=80, by="manager", owner="manager",
        description="破产管理人来函：称发票 {invoice} 项下部分货物（{product} 等）未实际交付，对该发票全额提出异议，暂不确认该笔债权。",
        steps=(
            Ack(79, "manager", note="已收到管理人函件，正在核对交货记录。"),
            Evidence(79, "manager", Pdf(
                "签收单_{invoice}.pdf", "送货签收单 Delivery receipt",
                (("发票号", "{invoice}"), ("订单号", "{po}"), ("送货日期", "{delivered}"), ("收货单位", "{buyer}"),
                 ("签收人", "黄志强")),
                ("货物已按订单全部送达，数量相符，外包装完好。",), footer="华东精密制造有限公司 物流部")),
            Message(78, "manager", "黄总您好：贵司管理人对发票 {invoice} 提出的异议我们已收到。该批货物的送货签收单已上传（签收人：黄志强），"
                    "货物已全部交付。请管理人确认该笔债权 {currency} {amount}。"),
            Note(70, "manager", "The administrator's deadline for lodging claims is 31 December. The dispute looks like the usual move "
                 "to shrink the estate's liabilities; our proof of delivery is clean."),
            Move(60, "manager", "escalated_claim",
                 note="买方已进入破产清算，异议无事实依据。已向中国信保报损，保单号 SINO-2026-0048812。"),
            Note(30, "collector", "中国信保已受理报损，案件号 SIN-CL-2026-1187，要求补充送货签收单原件，已快递。"),
        ),
    ),
    Story(
        "KH-0105", "quality", "email", ago=70, by="collector", owner="demo",
        description="买方称发票 {invoice} 项下 {product} 存在质量问题，拒付全部货款，但未说明具体缺陷，也未提供检验报告。",
        items=(Item(pick="largest"),),
        steps=(
            Ack(69, "demo", note="已收到，请贵司在 10 个工作日内提供检验报告和不良品照片。"),
            Message(69, "demo", "孙会计您好：关于发票 {invoice}（{currency} {amount}）的质量异议，请贵司在 10 个工作日内提供："
                    "1. 入库检验报告；2. 不良品照片及批号；3. 不良数量。收到资料后我司质量部会在 3 个工作日内答复。"),
            Check(60, "collector", "similar_past_disputes", "yes", "今年第二次在催款之后提出质量异议，上次同样没有提供任何证据。"),
            Check(60, "collector", "market_change", "yes", "买方自今年夏天起停止付款，其下游订单大幅下降。"),
            Message(55, "demo", "孙会计您好：我们至今未收到贵司的任何检验资料。请于本周五前提供，否则我们将视为异议不成立，并按合同追收全部逾期货款。"),
            Note(50, "demo", "两次书面催要证据均无回复，电话也联系不上孙丽。建议转法务。"),
            Move(40, "demo", "escalated_legal", note="异议无任何证据支持，且买方已连续 4 个月停止付款，转法务发律师函。"),
            Note(38, "demo", "律师函已由上海金诚律师事务所发出，要求 15 日内支付全部逾期货款。"),
        ),
    ),
    Story(
        "KH-0105", "late_delivery", "phone", ago=45, by="collector", owner="demo",
        description="孙丽来电：称发票 {invoice} 对应货物晚到，导致其生产计划推迟，要求延期 90 天付款。",
        steps=(
            Ack(44, "demo"),
            Check(43, "demo", "similar_past_disputes", "yes", "该客户今年已多次以交期为由要求延期付款。"),
            Check(43, "demo", "delivery_proven", "yes", "送货单显示 {delivered} 送达，与订单约定交期一致。"),
            Task(42, "demo", "sales", "sales", "请确认发票 {invoice}（订单 {po}）的约定交期和实际交期，买方是否书面同意过交期变更？", due_in=3),
            Answer(39, "sales", "交期按合同执行，{delivered} 送达，比约定还早两天。买方说的延误其实是他们自己推迟提货，有邮件为证。"),
            Note(38, "demo", "交期异议不成立。但客户现金流确实紧张，建议给分期方案，先把钱收回来。"),
            Offer(30, "demo", (
                Option("instalments", "1", description="分 3 期支付全部未付款", instalments=3),
                Option("rejection", description="经核实，货物按合同约定交期送达，交期异议不成立，请按原账期付款。"),
            ), message="孙会计您好：经核实，交期异议不成立。考虑到双方长期合作，我们可以接受分期付款，请选择。"),
            Reply(27, "demo", "counter", note="希望分 6 期支付。"),
            Offer(20, "demo", (
                Option("instalments", "1", description="分 4 期，每月一期，首期 {first_due}", instalments=4),
            ), message="6 期时间过长，我们最多可以接受 4 期，每期 {currency} {o1_each}，首期于 {first_due} 支付。"),
            Reply(18, "demo", "accept", option=1, note="同意分 4 期。"),
            Resolve(17, "demo", "invalid", "buyer_liquidity", note="交期异议不成立；买方资金紧张，同意分 4 期付款。"),
        ),
    ),
    Story(
        "KH-0102", "quality", "email", ago=60, by="collector", owner="collector",
        description="发票 {invoice} 第 {line_no} 行 {product}（{sku}）共 {qty} {unit}，买方来料检验不良率偏高，要求按不良比例扣款。",
        items=(Item(pick="newest", line=True, products=("BRG", "CPL", "SEAL", "PCB", "SNS")),),
        steps=(
            Ack(59, "collector"),
            Evidence(59, "collector", Photo("不良品照片_{sku}.png", "auto")),
            Task(57, "collector", "quality", "quality", "请核查该批次出厂检验记录，确认 {sku} 的不良是否属于我方制程问题。", due_in=4),
            Answer(52, "quality", "复测留样 30 件，2 件不合格，确认为我方制程参数偏差。不良率约 7%，客户的检验结论基本属实。"),
            Check(51, "collector", "contract_terms_met", "no", "质量协议要求 AQL 0.65，本批不合格。"),
            Offer(45, "collector", (
                Option("credit_note", "0.5", description="按 50% 开具贷项通知单"),
                Option("redelivery", description="免费补发同等数量良品，不良品退回"),
            ), message="刘经理您好：经我司质量部复测，确认该批次存在质量问题，对此深表歉意。我们提供以下两种方案供贵司选择。"),
            Reply(40, "collector", "accept", option=1, note="同意按 50% 开贷项。"),
            Resolve(38, "collector", "valid", "product_defect", note="按 50% 开贷项。"),
            Decide(37, "manager", approve=False,
                   note="Quality measured about 7% defective; a 50% credit is far above that. Please renegotiate, around 30%."),
            Move(36, "collector", "negotiating", note="审批未通过，与客户重新协商贷项比例。"),
            Message(36, "collector", "刘经理您好：很抱歉，经内部复核，50% 的贷项超出了实际不良比例，我们会在本周内提出新的方案。"),
            Offer(30, "collector", (Option("credit_note", "0.3", description="按 30% 开具贷项通知单"),),
                  message="根据复测结果，我们建议按 30% 开具贷项通知单（{currency} {o1}），并承诺下批货物 100% 全检。"),
            Reply(25, "collector", "accept", option=1, note="接受 30%，请尽快开具贷项。"),
            Resolve(0, "manager", "partly_valid", "product_defect", note="按 30% 开贷项，下批全检。", approver="demo"),
        ),
    ),
    Story(
        "KH-0102", "late_delivery", "email", ago=50, by="manager", owner="manager",
        description="发票 {invoice}（订单 {po}）货物晚到 11 天，导致买方产线停线，买方要求按合同第 9 条索赔，并暂扣整张发票。",
        items=(Item(pick="largest"),),
        steps=(
            Ack(49, "manager"),
            Check(48, "manager", "delivery_proven", "no", "签收单显示实际送达比约定晚 11 天。"),
            Task(48, "manager", "logistics", "logistics", "请核实订单 {po} 的发货和到货时间，以及延误原因。", due_in=3),
            Answer(45, "logistics", "确认晚到 11 天：原定船期因宁波港拥堵顺延，我方没有及时通知客户。"),
            Check(44, "manager", "contract_terms_met", "no", "合同第 9 条：每延迟一天扣 1%，上限 10%；停线损失另行协商。"),
            Offer(40, "manager", (
                Option("credit_note", "0.35", description="延误违约金及停线损失，按 35% 开具贷项"),
                Option("discount", "0.1", description="按合同上限 10% 折让"),
            ), message="刘经理您好：对于此次交货延误我们深表歉意。根据合同第 9 条及贵司提供的停线记录，我们提出以下方案。"),
            Reply(36, "manager", "accept", option=1, note="接受 35% 贷项方案。"),
            Note(35, "manager", "The credit is above our CNY 10,000 limit, so it goes to 王丽 for approval when we resolve."),
            Resolve(0, "manager", "valid", "logistics", note="晚到 11 天，按 35% 开贷项。", approver="demo"),
        ),
    ),
    Story(
        "KH-0102", "price", "email", ago=40, by="collector", owner="collector",
        description="发票 {invoice} 第 {line_no} 行 {sku} 单价 {unit_price}，买方认为应执行 2026 年框架协议新价（下调 6%），对该行差价提出异议。",
        items=(Item(pick="newest", line=True, share="0.06"),),
        steps=(
            Ack(39, "collector"),
            Task(38, "collector", "sales", "sales", "请确认 2026 年框架协议新价的生效日期，以及订单 {po} 的下单日期。", due_in=4),
            Answer(34, "sales", "新价自 10 月 1 日起生效；订单 {po} 下单时新价还没生效，按合同应执行旧价。不过是重点客户，可以考虑让一半。"),
            Check(33, "collector", "contract_terms_met", "yes", "按下单日执行旧价，符合框架协议第 3 条。"),
            Offer(30, "collector", (
                Option("price_correction", "0.5", description="按差价的一半更正单价"),
                Option("rejection", description="订单下单日早于新价生效日，按合同执行旧价，差价不予调整。"),
            ), message="刘经理您好：订单 {po} 下单时新价尚未生效。考虑到双方的合作，我们可以承担一半差价，请选择。"),
            Reply(26, "collector", "counter", note="我方认为发货时新价已经生效，要求全额更正差价。", counter_share="1"),
            Note(25, "collector", "客户坚持全额。刘建华说如果今年采购量能到 300 万，可以全额让。"),
            Offer(8, "collector", (
                Option("price_correction", "0.75", description="按差价的 75% 更正单价"),
                Option("discount", "0.75", description="差价的 75% 在下一张发票中折让"),
            ), message="刘经理您好：我们再让一步：按差价的 75%（{currency} {o1}）更正单价，或在下一张发票中折让同等金额。"),
        ),
    ),
    Story(
        "KH-0102", "quality", "portal", ago=2, by="collector", owner=None,
        description="买方通过门户提交：发票 {invoice} 第 {line_no} 行 {product} 到货抽检，部分产品外观划伤、尺寸超差，要求暂扣该行 40% 货款，待我方确认。",
        items=(Item(pick="newest", line=True, share="0.4"),),
        steps=(
            Evidence(2, "collector", Photo("到货检验照片_{invoice}.png", "auto")),
            Note(1, "collector", "光明电子这个季度已经是第三单质量异议了。谁来接？建议 Daniel 看一下。"),
        ),
    ),
    Story(
        "KH-0103", "payment_terms", "email", ago=30, by="collector", owner="collector",
        description="买方认为发票 {invoice} 的账期应为 90 天（按 2024 年旧合同），在到期前拒绝付款。",
        steps=(
            Ack(29, "collector"),
            Task(28, "collector", "sales", "sales", "请提供与宁波东方液压现行合同的付款条款。", due_in=3),
            Answer(26, "sales", "2026 年 1 月续签的合同第 5 条约定账期 45 天，双方盖章，扫描件已上传。"),
            Evidence(26, "sales", Pdf(
                "销售合同_付款条款.pdf", "销售合同（摘录）Sales contract excerpt",
                (("合同编号", "HD-XS-2026-0103"), ("签订日期", "2026-01-08"), ("买方", "{buyer}"), ("付款条件", "收到发票后 45 天内付款")),
                ("第 5 条 付款：买方应在收到发票后 45 日内以银行转账方式支付全部货款。本合同取代双方 2024 年签订的供货合同。",),
                footer="华东精密制造有限公司 销售部")),
            Check(25, "collector", "contract_terms_met", "yes", "现行合同账期 45 天。"),
            Move(22, "collector", "rejected", root="buyer_misunderstanding",
                 note="陈经理您好：经核实，双方于 2026 年 1 月续签的合同第 5 条约定账期为 45 天，该合同已取代 2024 年的旧合同。"
                      "因此账期异议不成立，请按原到期日支付发票 {invoice}。"),
            Message(22, "collector", "陈经理您好：合同相关条款的摘录见附件，如有疑问欢迎来电。", files=(Pdf(
                "合同摘录_付款条款.pdf", "销售合同（摘录）Sales contract excerpt",
                (("合同编号", "HD-XS-2026-0103"), ("签订日期", "2026-01-08"), ("付款条件", "收到发票后 45 天内付款")),
                ("第 5 条 付款：买方应在收到发票后 45 日内以银行转账方式支付全部货款。",), footer="华东精密制造有限公司"),)),
            Note(21, "collector", "已电话告知陈经理，对方表示下周付款。"),
        ),
    ),
    Story(
        "KH-0103", "quality", "email", ago=35, by="collector", owner="collector",
        description="发票 {invoice} 第 {line_no} 行 {product}（{sku}）装机后出现泄漏，买方要求退换并赔偿拆装费用。",
        items=(Item(pick="newest", line=True, products=("HYD", "SEAL")),),
        steps=(
            Ack(34, "collector"),
            Evidence(34, "collector", Photo("泄漏部位_{sku}.png", "auto")),
            Evidence(33, "collector", Pdf(
                "入库检验报告_{invoice}.pdf", "入库检验报告 Incoming inspection report",
                (("供应商", "华东精密制造有限公司"), ("发票号", "{invoice}"), ("物料", "{sku}"), ("检验数量", "{qty} {unit}"),
                 ("结论", "不合格：密封处渗漏")),
                ("装机试压 21 MPa、保压 10 分钟，密封处渗油。",), footer="{buyer} 质量部")),
            Task(32, "collector", "quality", "quality", "请分析 {sku} 泄漏原因，是否为密封件批次问题？", due_in=4),
            Answer(28, "quality", "留样复测确认密封圈硬度偏低，为供应商来料问题，同批次已全部隔离。责任在我方。"),
            Check(27, "collector", "contract_terms_met", "no", "产品未达到技术协议的耐压要求。"),
            Check(27, "collector", "similar_past_disputes", "no"),
            Offer(20, "collector", (
                Option("credit_note", "0.6", description="退货部分开具贷项，并承担拆装费用"),
                Option("redelivery", description="免费更换全部同批次产品"),
            ), message="陈经理您好：经分析，泄漏系密封圈来料问题，责任在我方。我们提供以下两种方案。"),
            Reply(6, "collector", "accept", option=1, note="选择开贷项，我方已自行采购替代品。"),
            Resolve(1, "collector", "valid", "product_defect", note="密封圈来料问题，按 60% 开贷项。"),
            Note(1, "collector", "王总，这笔贷项需要您审批（我没有审批权限），客户在等贷项通知单。"),
        ),
    ),
    Story(
        "KH-0103", "quality", "email", ago=18, by="manager", owner="manager",
        description="发票 {invoice} 第 {line_no} 行 {product} 使用两周后出现异响，买方怀疑为材料问题，要求暂扣该行货款。",
        items=(Item(pick="newest", line=True, products=("BRG", "GBX", "MOT", "CPL")),),
        steps=(
            Ack(17, "manager"),
            Evidence(17, "manager", Photo("异响部件_{sku}.png", "auto")),
            Check(15, "manager", "contract_terms_met", "unknown", "需质量部确认。"),
            Check(15, "manager", "delivery_proven", "yes", "签收单齐全。"),
            Check(15, "manager", "similar_past_disputes", "yes", "Same buyer raised a leak complaint last month, which we accepted."),
            Task(15, "manager", "quality", "quality", "请调阅 {sku} 批次的出厂检验记录，并判断异响是否可能由安装不当引起。", due_in=3),
            Answer(12, "quality", "出厂检验记录齐全，振动值合格。照片中零件外圈有明显敲击痕迹，初步判断为安装不当，需要客户提供安装现场照片确认。"),
            Task(12, "manager", "logistics", "logistics", "请确认该批货物的运输和包装情况，运输途中是否有受撞击的记录。", due_in=4),
            Message(10, "manager", "陈经理您好：我司质量部初步检查发现零件外圈有敲击痕迹。为尽快查明原因，请提供安装现场照片及所用安装工具的信息。"),
            Note(3, "manager", "Still nothing from 黄磊 on the transport question; chased him again today."),
        ),
    ),
    Story(
        "KH-0104", "contract_terms", "phone", ago=8, by="manager", owner="manager",
        description="周总来电：按框架协议第 4.2 条，集团年采购额超过 500 万元可享受 3% 返利，发票 {invoice} 未扣除返利，要求扣减 3%。",
        items=(Item(share="0.03"),),
        steps=(
            Ack(7, "manager", note="已收到，正在核对集团年度累计采购额。"),
            Message(7, "manager", "周总您好：关于返利问题，我们正在核对贵司集团今年的累计采购额，预计本周五前答复。"),
            Note(7, "manager", "KH-0104 and KH-0105 together bought about CNY 4.6m this year; the rebate tier is 5m. "
                 "Need sales to confirm whether the subsidiary counts towards the group total."),
        ),
    ),
    Story(
        "KH-0101", "quality", "portal", ago=9, by="collector", owner=None,
        description="买方通过门户提交：发票 {invoice} 整批货物中多个品种出现锈蚀，要求整单退货或降价处理，暂扣整张发票。",
        items=(Item(pick="largest"),),
        steps=(
            Ack(8, "demo", note="已收到，已安排质量部分析。"),
            Task(8, "demo", "quality", "quality", "请分析 {invoice} 批次锈蚀原因：防锈包装、运输受潮还是仓储问题？", due_in=3),
            Evidence(7, "demo", Photo("锈蚀照片_{invoice}.png", "auto")),
            Answer(5, "quality", "锈蚀只出现在外箱底部的产品，防锈油涂覆正常，判断为运输途中受潮。约 15% 的产品受影响，可返工除锈。"),
            Evidence(5, "quality", Pdf(
                "8D报告_{invoice}.pdf", "8D 报告 8D report",
                (("客户", "{buyer}"), ("发票号", "{invoice}"), ("问题", "外层产品锈蚀"), ("影响比例", "约 15%"),
                 ("根本原因", "运输途中外箱底部受潮")),
                ("D4 根本原因：外箱底部未加防潮垫，雨天卸货时受潮。", "D5 纠正措施：所有长途发运增加防潮垫和干燥剂。"),
                footer=_HD_FOOTER_QUALITY)),
            Offer(3, "demo", (
                Option("credit_note", "0.15", description="受影响产品按 15% 开具贷项"),
                Option("redelivery", description="受影响产品免费换货，锈蚀品退回"),
                Option("discount", "0.08", description="受影响产品留用返工，给予 8% 折让"),
            ), message="张经理您好：经我司质量部分析，锈蚀系运输途中受潮所致，约 15% 的产品受影响。我们提出三种方案，请贵司选择。"),
            Message(3, "demo", "张经理您好：随附我司 8D 报告，纠正措施已在所有发运中实施。期待贵司的回复。", files=(Pdf(
                "8D报告_{invoice}.pdf", "8D 报告 8D report",
                (("客户", "{buyer}"), ("发票号", "{invoice}"), ("问题", "外层产品锈蚀"), ("影响比例", "约 15%")),
                ("D5 纠正措施：所有长途发运增加防潮垫和干燥剂。",), footer=_HD_FOOTER_QUALITY),)),
        ),
    ),
    Story(
        "KH-0101", "quantity", "email", ago=6, by="collector", owner="collector",
        description="发票 {invoice} 第 {line_no} 行 {product}（{sku}）开票 {qty} {unit}，买方仓库实收少 {short} {unit}，签收单上已注明，要求按实收数量结算。",
        items=(Item(pick="newest", line=True, units="0.05", products=("BRG", "CPL", "SEAL", "PCB", "SNS")),),
        steps=(
            Ack(5, "collector"),
            Evidence(5, "collector", Photo("外箱标签_{sku}.png", "label")),
            Message(5, "collector", "张经理您好：已收到贵司关于发票 {invoice} 少货 {short} {unit} 的异议。我们已安排物流部核对装箱单和出库记录，"
                    "三个工作日内答复。未争议部分请按期支付。"),
            Note(5, "collector", "装箱单显示按 {qty} {unit} 装箱，需要黄磊查一下出库称重记录。"),
            Payment(2, "collector", "undisputed", text="恒瑞机电付款 {invoice}（扣除争议部分）"),
        ),
    ),
    Story(
        "KH-0101", "missing_order", "email", ago=2, by="collector", owner="collector",
        description="买方称在其系统中找不到发票 {invoice} 对应的采购订单，暂不付款。",
        items=(Item(pick="no_po"),),
        steps=(
            Message(1, "collector", "张经理您好：发票 {invoice} 对应的是贵司 Lily Zhou 电话追加的订单，当时未生成正式订单号。"
                    "请贵司补录订单后付款，当时的确认邮件我们可以再转给您。"),
            Note(1, "collector", "Lily 已在电话中确认是她追加的，会让采购补单。"),
            Payment(0, "collector", "all", text="恒瑞机电付款 {invoice}（补录订单后全额支付）"),
        ),
    ),
    Story(
        "KH-0106", "late_delivery", "email", ago=1, by="collector", owner=None,
        description="买方来邮件：发票 {invoice} 对应货物比合同交期晚到，影响其船舶维修工期，要求在问题说清之前暂停支付整张发票。",
        items=(Item(pick="newest"),),
        steps=(Note(0, "collector", "货物 {delivered} 送达，需要查一下合同交期和船期记录。"),),
    ),
    Story(
        "KH-0106", "price", "email", ago=25, by="collector2", owner="collector2",
        description="发票 {invoice} 第 {line_no} 行 {product} 单价 {unit_price} 高于报价单，买方要求按报价单价格更正（差 8%）。",
        items=(Item(line=True, share="0.08"),),
        steps=(
            Ack(24, "collector2"),
            Task(24, "collector2", "sales", "sales", "请核对给青岛海联的 {sku} 报价单，发票单价是否有误？", due_in=3),
            Answer(21, "sales", "开票时误用了旧版价目表，报价单价格确实低 8%，责任在我方。"),
            Offer(18, "collector2", (Option("price_correction", "1", description="按报价单单价更正，差额冲减发票"),),
                  message="王先生您好：经核实，发票单价开错了，我们将按报价单价格更正差额 {currency} {o1}。"),
            Reply(15, "collector2", "accept", option=1, note="同意。"),
            Note(14, "collector2", "Price correction accepted. I can't approve ledger entries myself, so resolving goes to Daniel."),
            Resolve(0, "collector2", "valid", "pricing", note="误用旧版价目表，按报价单更正单价。", approver="manager"),
        ),
    ),
    Story(
        "KH-0107", "quality", "phone", ago=10, by="collector2", owner="collector2",
        description="李娜来电：发票 {invoice} 第 {line_no} 行 {product} 到货时外箱严重破损，部分产品变形无法使用，要求换货。",
        items=(Item(line=True),),
        steps=(
            Ack(9, "collector2"),
            Evidence(9, "collector2", Photo("外箱破损_{invoice}.png", "carton")),
            Task(9, "collector2", "logistics", "logistics", "请核实 {invoice} 的运输破损情况，并向承运商提出索赔。", due_in=3),
            Answer(6, "logistics", "承运商已确认运输途中破损，索赔单号 DB-2026-11-0387，赔款预计 30 天内到账。"),
            Offer(5, "collector2", (
                Option("redelivery", description="免费补发破损产品，破损品由承运商回收"),
                Option("credit_note", "1", description="破损产品全额开具贷项"),
            ), message="李女士您好：运输破损给贵司带来不便，我们深表歉意。可以免费补发，也可以对破损产品全额开具贷项，请选择。"),
            Reply(3, "collector2", "accept", option=1, note="选择补发，请尽快发货。"),
            Task(2, "collector2", "logistics", "logistics", "请安排补发 {sku}，走顺丰加急，本周内送达成都。", due_in=5),
            Note(2, "collector2", "Replacement agreed; once 黄磊 confirms delivery I'll resolve the case."),
        ),
    ),
    Story(
        "EX-0201", "quantity", "api", ago=14, by="collector", owner=None,
        description="Goods receipt for order {po}: line {line_no} ({sku}) invoiced {qty} {unit}, {short} {unit} fewer received. "
        "Amount held pending clarification.",
        items=(Item(line=True, units="0.1", products=("BRG", "CPL", "SEAL", "PCB", "SNS")),),
        steps=(
            Assign(13, "manager", "collector"),
            Ack(13, "collector"),
            Message(13, "collector", "Dear Mr Lindqvist, thank you for your notice about invoice {invoice}. We are checking the packing "
                    "list and the container seal records and will come back to you within three working days."),
            Task(12, "collector", "logistics", "logistics", "请核对 {invoice}（{sku}）的装箱单、提单和集装箱铅封记录，确认发货数量。", due_in=3),
            Answer(10, "logistics", "装箱单、提单与出库称重记录一致，按 {qty} {unit} 发货；目的港铅封完好。可能是客户收货时点数有误。"),
            Evidence(10, "logistics", Pdf(
                "Packing_list_{invoice}.pdf", "装箱单 Packing list",
                (("Invoice", "{invoice}"), ("Order", "{po}"), ("Item", "{sku}"), ("Quantity", "{qty} {unit}"),
                 ("Seal", "COSU 7781204")),
                ("Cartons as weighed at dispatch. Seal intact on arrival according to the carrier's report.",),
                footer="Huadong Precision Manufacturing Co., Ltd. - Logistics")),
            Check(9, "collector", "delivery_proven", "yes", "Packing list, B/L and seal record all show the full quantity."),
            Message(9, "collector", "Dear Mr Lindqvist, our packing list and the bill of lading both show {qty} {unit} shipped, and the "
                    "container seal was intact on arrival. Could your warehouse recount the cartons of {sku}? We suspect the missing "
                    "pieces went to a carton booked to another order."),
        ),
    ),
    Story(
        "EX-0201", "quality", "api", ago=0, by="collector", owner=None,
        description="Automated claim from the buyer's ERP: incoming inspection of {invoice} failed (lot rejected, surface corrosion "
        "on {product}). Payment blocked for the whole invoice.",
        items=(Item(pick="newest"),),
    ),
    Story(
        "EX-0202", "late_delivery", "email", ago=28, by="collector", owner=None,
        description="Katrin Müller writes: the goods of order {po} arrived 9 days after the agreed date and our assembly line stood "
        "still for two days. We withhold payment of {invoice} until compensation is agreed.",
        steps=(
            Ack(27, "manager"),
            Message(27, "manager", "Dear Ms Müller, we are sorry for the late arrival of order {po}. We are checking the shipping "
                    "records and will come back to you with a proposal this week."),
            Check(26, "manager", "delivery_proven", "no", "Arrived 9 days late: the vessel was rolled over at Ningbo."),
            Check(26, "manager", "contract_terms_met", "no", "Contract §9: 0.5% per day late, capped at 5%."),
            Offer(20, "manager", (Option("discount", "0.03", description="Goodwill discount of 3% for the late delivery"),),
                  message="Dear Ms Müller, as a gesture of goodwill we offer a discount of {currency} {o1} on invoice {invoice}."),
            Reply(15, "manager", "decline", note="Not acceptable: our line stood still for two days. We expect at least the contractual "
                  "5% plus our downtime costs."),
            Note(14, "manager", "Contract §9 caps damages at 5%; downtime costs are excluded. I'll offer the full 5% once logistics "
                 "confirms the dates."),
            Task(6, "manager", "logistics", "logistics", "Please send me the booking confirmation and the actual departure date of "
                 "the vessel for order {po}.", due_in=3),
        ),
    ),
    Story(
        "EX-0202", "price", "email", ago=10, by="collector", owner=None,
        description="Katrin Müller writes: the USD prices on {invoice} were converted at a rate about 4% above the one in our "
        "agreement. Please correct the difference.",
        items=(Item(pick="newest", share="0.04"),),
        steps=(
            Ack(9, "manager"),
            Task(9, "manager", "sales", "sales", "Which CNY/USD rate did we agree with Müller for 2026, and which one did we "
                 "invoice {invoice} at?", due_in=2),
            Answer(7, "sales", "合同约定按季度初汇率结算，开票时用错了汇率，客户说得对，差额约 4%。"),
            Offer(5, "manager", (Option("write_off", "1", description="Write off the exchange-rate difference"),),
                  message="Dear Ms Müller, you are right: we used the wrong rate. We will write off the difference of {currency} "
                  "{o1}; there is nothing more to pay for it."),
            Reply(4, "manager", "accept", option=1, note="Thank you."),
            Resolve(0, "manager", "valid", "pricing", note="Wrong exchange rate on the invoice; difference written off.",
                    approver="demo"),
        ),
    ),
    Story(
        "EX-0202", "duplicate_billing", "email", ago=16, by="collector", owner=None,
        description="Katrin Müller writes: invoice {invoice} seems to duplicate an earlier invoice for the same goods, and it names "
        "no order of ours. Please cancel it.",
        items=(Item(pick="no_po"),),
        steps=(
            Ack(15, "manager"),
            Message(15, "manager", "Dear Ms Müller, invoice {invoice} is not a duplicate: it covers the goods your colleague Mr Wu "
                    "ordered by phone, without a purchase order. The signed delivery note is attached.", files=(Pdf(
                        "Delivery_note_{invoice}.pdf", "Delivery note",
                        (("Invoice", "{invoice}"), ("Delivered", "{delivered}"), ("Item", "{sku}"), ("Quantity", "{qty} {unit}"),
                         ("Received by", "Wu Jun")),
                        ("Goods received complete and undamaged.",), footer="Huadong Precision Manufacturing Co., Ltd."),)),
            Move(11, "manager", "withdrawn", note="Katrin Müller confirmed by e-mail: Mr Wu's phone order had not been entered in "
                 "their ERP. Dispute withdrawn."),
        ),
    ),
    Story(
        "KH-0105", "late_delivery", "email", ago=25, by="collector", owner=None,
        description="孙丽邮件：发票 {invoice} 对应货物晚于约定交期送达，要求延期付款，并暂扣整张发票。",
        items=(Item(pick="newest"),),
        steps=(
            Check(22, "collector2", "similar_past_disputes", "yes", "Third delivery-date dispute from 无锡华信 this year; see the "
                  "instalment case."),
            Check(22, "collector2", "market_change", "yes", "The buyer's own orders have dropped sharply since the summer."),
            Task(20, "collector2", "sales", "sales", "请确认订单 {po} 的约定交期，买方是否书面同意过交期变更？", due_in=5),
            Answer(16, "sales", "交期变更是买方书面要求的（邮件已转给 Sarah），我方按变更后的交期按时送达。"),
            Message(14, "collector2", "孙会计您好：经核实，货物是按贵司书面要求变更后的交期送达的。请贵司确认，并尽快安排付款。"),
            Note(14, "collector2", "Sales confirms the new date was the buyer's own request. Waiting for 孙丽's reply before rejecting."),
            Task(4, "collector2", "logistics", "logistics", "请提供 {invoice} 的签收单扫描件，拒绝异议时随附。", due_in=7),
        ),
    ),
)
# fmt: on

HUADONG = Cast(
    administrator="demo",
    members={
        "demo": DEMO_LOGIN,
        "manager": "daniel.becker@huadong-precision.example",
        "collector": "li.qiang@huadong-precision.example",
        "collector2": "sarah.chen@huadong-precision.example",
        "quality": "chen.jing@huadong-precision.example",
    },
    colleagues=(
        Colleague("sales", "刘建华", "liu.jianhua@huadong-precision.example", Role.COLLABORATOR, "zh-CN"),
        Colleague("logistics", "黄磊", "huang.lei@huadong-precision.example", Role.COLLABORATOR, "zh-CN"),
    ),
    thresholds={"CNY": "10000", "USD": "1500"},
    rules=(
        Rule("大额争议（CNY 50,000 及以上）→ 王丽", owner="demo", min_amount="50000", currency="CNY"),
        Rule("出口客户 Müller Antriebstechnik → Daniel Becker", owner="manager", buyer="EX-0202"),
        Rule("交货延误：Sarah Chen、李强 轮流", pool=("collector2", "collector"), reason="late_delivery"),
    ),
    bank="ICBC",
    stories=HUADONG_STORIES,
)

# --- Nordlicht Components GmbH -------------------------------------------------------------------

_NL_FOOTER_QUALITY = "Nordlicht Components GmbH - Quality"

# fmt: off
NORDLICHT_STORIES = (
    Story(
        "D-10006", "quantity", "email", ago=85, by="manager", owner="manager",
        description="The insolvency administrator disputes invoice {invoice}: according to the debtor's records only part of the "
        "goods of order {po} were received. The claim is not recognised for the table.",
        steps=(
            Ack(84, "manager"),
            Evidence(84, "manager", Pdf(
                "POD_{invoice}.pdf", "Proof of delivery / Ablieferbeleg",
                (("Invoice", "{invoice}"), ("Order", "{po}"), ("Delivered", "{delivered}"), ("Consignee", "{buyer}"),
                 ("Signed", "K. Brandt, Wareneingang")),
                ("All packages received complete and undamaged.",), footer="Nordlicht Components GmbH - Logistics")),
            Message(83, "manager", "Dear Mr Petersen, the signed proof of delivery for order {po} is on the case: all goods were "
                    "received complete. We ask you to recognise our claim of {currency} {amount} in full."),
            Note(70, "manager", "Administrator's answer: the claim stays disputed until the creditors' meeting. Allianz Trade cover "
                 "is in place for this buyer."),
            Move(60, "manager", "escalated_claim", note="Buyer insolvent (Az. 67c IN 118/26); claim filed with Allianz Trade under "
                 "policy 4711-DE-2026."),
            Note(30, "collector", "Allianz Trade acknowledged the claim (ref. AT-CL-2026-55391022) and asked for the original POD; "
                 "sent by courier."),
        ),
    ),
    Story(
        "D-10005", "quality", "email", ago=75, by="collector", owner="demo",
        description="Florian Huber writes that the goods of invoice {invoice} are 'not to specification' and refuses payment, "
        "without saying which specification or how many parts.",
        items=(Item(pick="largest"),),
        steps=(
            Ack(74, "demo", note="Please send the inspection report and the batch numbers of the affected parts within 10 working days."),
            Message(74, "demo", "Dear Mr Huber, to look into your complaint about invoice {invoice} we need the inspection report, "
                    "the batch numbers and photos of the affected parts. Please send them within 10 working days."),
            Check(65, "collector", "similar_past_disputes", "yes", "Second unspecified quality complaint from Bayern this year, both "
                  "raised after a reminder."),
            Check(65, "collector", "market_change", "yes", "Bayern has paid nothing since the summer; its parent Kessler pays on time."),
            Message(58, "demo", "Dear Mr Huber, we have not received any evidence. Unless it arrives by Friday we will treat the "
                    "complaint as unfounded and pursue the overdue amount."),
            Note(52, "demo", "No reply to two requests; the phone goes to voicemail. Proposing to hand it to our lawyers."),
            Move(45, "demo", "escalated_legal", note="No evidence after two requests and the buyer has stopped paying. Handed to "
                 "Brandt & Partner Rechtsanwälte for a formal demand."),
            Note(40, "demo", "Court order for payment (Mahnbescheid) applied for at the Amtsgericht Coburg."),
        ),
    ),
    Story(
        "D-10005", "late_delivery", "phone", ago=60, by="collector", owner="demo",
        description="Florian Huber called: the delivery of order {po} was late, so Bayern will pay invoice {invoice} only in 90 days.",
        steps=(
            Ack(59, "demo"),
            Task(58, "demo", "sales", "sales", "Was the delivery for order {po} late? Did Bayern agree to a new date?", due_in=3),
            Answer(55, "sales", "Delivered on the confirmed date; Bayern postponed the call-off themselves. The e-mails are in the CRM."),
            Check(54, "demo", "delivery_proven", "yes", "Delivered {delivered} as confirmed."),
            Note(54, "demo", "The delay claim does not hold, but Bayern is short of cash. An instalment plan gets the money in; "
                 "rejecting outright gets us nothing."),
            Offer(40, "demo", (
                Option("instalments", "1", description="Three monthly instalments, the first on {first_due}", instalments=3),
                Option("rejection", description="Delivered on the confirmed date; the invoice is due as agreed."),
            ), message="Dear Mr Huber, the goods were delivered on the confirmed date. To help you, we can accept three monthly "
                       "instalments of {currency} {o1_each}."),
            Reply(35, "demo", "accept", option=1, note="Agreed, three instalments."),
            Resolve(33, "demo", "invalid", "buyer_liquidity", note="Late-delivery claim unfounded; three instalments agreed."),
        ),
    ),
    Story(
        "D-10002", "quality", "email", ago=55, by="manager", owner="manager",
        description="Thomas Schneider reports that part of the goods of invoice {invoice} failed their run-in test (noise, heat) "
        "and withholds the invoice.",
        items=(Item(products=("MOT", "GBX", "BRG")),),
        steps=(
            Ack(54, "manager"),
            Evidence(54, "manager", Photo("run-in-test_{invoice}.png", "auto")),
            Task(53, "manager", "quality", "quality", "Please analyse the failed units of {invoice}: design, assembly or handling?",
                 due_in=4),
            Answer(48, "quality", "Assembly fault: preload set wrong on one shift. About 20% of the lot is affected; 8D started."),
            Evidence(47, "quality", Pdf(
                "8D_{invoice}.pdf", "8D report",
                (("Customer", "{buyer}"), ("Invoice", "{invoice}"), ("Defect", "Noise and heat at run-in"),
                 ("Affected", "about 20%"), ("Root cause", "Preload set wrong on the night shift")),
                ("D5: preload torque is now checked at the end of the line for every unit.",), footer=_NL_FOOTER_QUALITY)),
            Offer(30, "manager", (
                Option("credit_note", "0.2", description="Credit note for the affected units"),
                Option("redelivery", description="Replace the affected units free of charge"),
            ), message="Dear Mr Schneider, our analysis confirms an assembly fault on about 20% of the lot. You can choose a credit "
                       "note of {currency} {o1} or free replacement."),
            Reply(26, "manager", "accept", option=1, note="Credit note, please."),
            Resolve(0, "manager", "valid", "product_defect", note="Assembly fault on 20% of the lot; credit note issued.",
                    approver="owner"),
        ),
    ),
    Story(
        "D-10002", "quantity", "email", ago=30, by="collector", owner="collector",
        description="Thomas Schneider: line {line_no} of invoice {invoice} ({sku}) invoiced {qty} {unit}, short by {short} "
        "{unit} on arrival as noted on the delivery receipt.",
        items=(Item(line=True, units="0.05", products=("BRG", "CPL", "SEAL", "PCB", "SNS")),),
        steps=(
            Ack(29, "collector"),
            Evidence(29, "collector", Photo("delivery-receipt_{invoice}.png", "label")),
            Task(28, "collector", "logistics", "logistics", "Please check the packing list and the carrier's weight for {invoice}: "
                 "were {short} {unit} of {sku} really missing?", due_in=3),
            Answer(25, "logistics", "The carrier's weight confirms it: one carton short. It was left at our dock in Bremen."),
            Offer(20, "collector", (
                Option("credit_note", "1", description="Credit note for the missing {short} {unit}"),
                Option("redelivery", description="Ship the missing {short} {unit} by express"),
            ), message="Dear Mr Schneider, you are right, one carton was left behind. Would you like a credit note of {currency} "
                       "{o1}, or shall we ship the missing parts by express?"),
            Reply(15, "collector", "accept", option=1),
            Payment(12, "collector", "undisputed", text="Schneider Fördertechnik: {invoice} less the disputed shortfall"),
            Resolve(0, "collector", "valid", "logistics", note="One carton left at the dock; credit note for the shortfall.",
                    approver="manager"),
        ),
    ),
    Story(
        "D-10003", "quality", "email", ago=45, by="collector", owner="collector",
        description="Laura Becker: the {product} ({sku}) of line {line_no} of invoice {invoice} leak at the flange after "
        "installation; Rheinland asks for compensation.",
        items=(Item(pick="largest", line=True, products=("HYD",)),),
        steps=(
            Ack(44, "collector"),
            Evidence(44, "collector", Photo("leak_{sku}.png", "auto")),
            Task(42, "collector", "quality", "quality", "Leak at the flange on {sku} from invoice {invoice}: is it our seal batch?",
                 due_in=4),
            Answer(38, "quality", "Yes: seal batch 26-031 from our supplier is too soft. All stock quarantined; the supplier "
                   "accepted our claim."),
            Check(37, "collector", "contract_terms_met", "no", "Did not meet the pressure rating in the technical agreement."),
            Check(37, "collector", "similar_past_disputes", "no"),
            Offer(25, "collector", (
                Option("credit_note", "0.4", description="Credit note for the affected units and the removal costs"),
                Option("redelivery", description="Replace all units of the batch free of charge"),
            ), message="Dear Ms Becker, the leak comes from a faulty seal batch and we take full responsibility. Please choose "
                       "between a credit note of {currency} {o1} and free replacement."),
            Reply(5, "collector", "accept", option=1, note="Credit note please; we have already sourced replacements locally."),
            Resolve(1, "collector", "valid", "product_defect", note="Seal batch 26-031 too soft; 40% credit."),
            Note(1, "collector", "The credit is above our EUR 1,500 limit and I can't approve it myself. 王丽, could you approve? "
                 "Laura is waiting for the credit note."),
        ),
    ),
    Story(
        "D-10003", "late_delivery", "email", ago=9, by="manager", owner="manager",
        description="Laura Becker: the {product} of order {po} arrived a week late; Rheinland asks for a price reduction.",
        items=(Item(pick="newest"),),
        steps=(
            Ack(8, "manager"),
            Check(8, "manager", "delivery_proven", "no", "Arrived 6 days after the confirmed date (carrier delay at the Cologne hub)."),
            Offer(6, "manager", (Option("discount", "0.03", description="3% discount for the late delivery"),),
                  message="Dear Ms Becker, we apologise for the late delivery and offer a discount of {currency} {o1} on invoice "
                  "{invoice}."),
            Reply(4, "manager", "accept", option=1, note="Accepted, thank you."),
            Resolve(0, "manager", "partly_valid", "logistics", note="Late by 6 days; 3% goodwill discount.", approver="owner"),
        ),
    ),
    Story(
        "D-20002", "price", "email", ago=40, by="collector", owner="collector",
        description="Agnieszka Nowak: the unit price of {sku} on line {line_no} of invoice {invoice} is 5% above the 2026 price list.",
        items=(Item(pick="newest", line=True, share="0.05"),),
        steps=(
            Ack(39, "collector"),
            Task(38, "collector", "sales", "sales", "Which price list applies to Polska's order {po}: 2025 or 2026?", due_in=4),
            Answer(34, "sales", "The order was placed before the 2026 list took effect, so the 2025 price is right. But Polska is a "
                   "growing account; we could meet them halfway."),
            Payment(33, "collector", "undisputed", text="Polska Automatyka: {invoice} less the disputed price difference"),
            Offer(28, "collector", (
                Option("price_correction", "0.5", description="Correct half of the price difference"),
                Option("rejection", description="The order was placed under the 2025 price list; the price stands."),
            ), message="Dear Ms Nowak, your order was placed under the 2025 price list. As a gesture we can correct half of the "
                       "difference ({currency} {o1})."),
            Reply(24, "collector", "counter", note="The goods were shipped after the 2026 list took effect; we expect the full "
                  "difference.", counter_share="1"),
            Note(23, "collector", "Lena says we can go to 75% if Polska confirms its 2027 volume."),
            Offer(9, "collector", (
                Option("price_correction", "0.75", description="Correct 75% of the price difference"),
                Option("discount", "0.75", description="75% of the difference as a discount on the next invoice"),
            ), message="Dear Ms Nowak, we can correct 75% of the difference ({currency} {o1}), either on this invoice or as a "
                       "discount on your next one."),
        ),
    ),
    Story(
        "D-20002", "price", "email", ago=20, by="collector", owner=None,
        description="Polska paid invoice {invoice} short by {currency} {open}: the freight surcharge on it was never agreed, they say.",
        steps=(
            Assign(19, "manager", "collector2"),
            Task(18, "collector2", "sales", "sales", "Did we agree a freight surcharge with Polska Automatyka for order {po}?",
                 due_in=3),
            Answer(16, "sales", "Not in writing. The quote said DAP and the surcharge was added by mistake."),
            Offer(12, "collector2", (Option("write_off", "1", description="Write off the unagreed freight surcharge"),),
                  message="Dear Ms Nowak, you are right, the surcharge was not agreed. We write off the remaining {currency} {o1}."),
            Reply(10, "collector2", "accept", option=1),
            Resolve(0, "collector2", "valid", "pricing", note="Freight surcharge not agreed; remainder written off.",
                    approver="manager"),
        ),
    ),
    Story(
        "D-20002", "payment_terms", "email", ago=8, by="collector", owner="collector",
        description="Agnieszka Nowak: Polska will pay invoice {invoice} less a 2% early-payment discount (Skonto) and disputes "
        "the difference.",
        items=(Item(pick="newest", share="0.02"),),
        steps=(
            Ack(7, "collector"),
            Task(7, "collector", "sales", "sales", "Does our contract with Polska Automatyka grant a 2% Skonto?", due_in=2),
            Answer(6, "sales", "No. Skonto was in the 2024 terms only; the 2026 framework agreement says 45 days net."),
            Check(6, "collector", "contract_terms_met", "yes", "45 days net, no early-payment discount."),
            Move(5, "collector", "rejected", root="buyer_misunderstanding",
                 note="Dear Ms Nowak, our 2026 framework agreement sets 45 days net without an early-payment discount (clause 6.1). "
                      "The full amount of invoice {invoice} is due on its due date."),
        ),
    ),
    Story(
        "D-30001", "quantity", "email", ago=35, by="collector", owner=None,
        description="张伟来邮件：发票 {invoice} 第 {line_no} 行 {product}（{sku}）开票 {qty} {unit}，实收少 {short} {unit}，要求按实收数量付款。",
        items=(Item(line=True, units="0.08", products=("BRG", "CPL", "SEAL", "PCB", "SNS")),),
        steps=(
            Ack(34, "collector2"),
            Message(34, "collector2", "张经理您好：已收到贵司关于发票 {invoice} 少货的异议，我们正在核对出库和运输记录，会尽快答复。"),
            Task(33, "collector2", "logistics", "logistics", "Please check dispatch weight and packing list for {invoice}, {sku}: "
                 "were {short} {unit} missing?", due_in=3),
            Answer(29, "logistics", "Dispatch weight and packing list match the invoiced quantity; the container arrived with its "
                   "seal intact. No sign of a shortfall on our side."),
            Offer(25, "collector2", (Option("credit_note", "0.5", description="按少货金额的一半开具贷项（双方各承担一半）"),),
                  message="张经理您好：我方出库重量和装箱单均与开票数量一致，集装箱铅封完好。为维护合作关系，我们愿意承担一半，"
                  "开具贷项 {currency} {o1}。"),
            Reply(20, "collector2", "decline", note="我方仓库清点记录很清楚，要求按少货数量全额扣款。"),
            Note(19, "collector2", "张伟 declined the 50/50 offer. Asked Tobias for the container weight at Shanghai port to settle it."),
            Task(12, "collector2", "logistics", "logistics", "Could you get the weighbridge ticket for the container at Shanghai port? "
                 "张伟 insists on the full shortfall.", due_in=5),
        ),
    ),
    Story(
        "D-20003", "quality", "email", ago=11, by="collector", owner=None,
        description="Pieter van der Berg: the {product} of invoice {invoice} fail their end-of-line test (noise at full load). "
        "The whole invoice is withheld.",
        items=(Item(products=("GBX", "MOT", "BRG")),),
        steps=(
            Ack(10, "owner"),
            Task(10, "owner", "quality", "quality", "Van der Berg reports noise at full load on {sku}. Please analyse the returned "
                 "samples.", due_in=4),
            Answer(7, "quality", "The samples confirm it: backlash out of tolerance on part of the lot (about 10%). 8D report uploaded."),
            Evidence(7, "quality", Pdf(
                "8D_{invoice}.pdf", "8D report",
                (("Customer", "{buyer}"), ("Invoice", "{invoice}"), ("Defect", "Noise at full load"), ("Affected", "about 10%"),
                 ("Root cause", "Backlash setting drifted after tool change")),
                ("D5: backlash is measured on every unit after a tool change.",), footer=_NL_FOOTER_QUALITY)),
            Offer(2, "owner", (
                Option("credit_note", "0.1", description="Credit note for the affected units"),
                Option("redelivery", description="Replace the affected units free of charge"),
                Option("discount", "0.06", description="Keep the units after rework at a 6% discount"),
            ), message="Dear Mr van der Berg, our analysis confirms a backlash problem on about 10% of the lot. Please choose one "
                       "of three ways to settle it."),
            Message(2, "owner", "Dear Mr van der Berg, the 8D report with our corrective actions is attached.", files=(Pdf(
                "8D_{invoice}.pdf", "8D report",
                (("Customer", "{buyer}"), ("Invoice", "{invoice}"), ("Affected", "about 10%")),
                ("D5: backlash is measured on every unit after a tool change.",), footer=_NL_FOOTER_QUALITY),)),
        ),
    ),
    Story(
        "D-20003", "quality", "portal", ago=1, by="collector", owner=None,
        description="Submitted in the portal: the {product} on line {line_no} of invoice {invoice} arrived with damaged packaging "
        "and dented parts.",
        items=(Item(pick="newest", line=True),),
        steps=(Evidence(1, "collector", Photo("damaged-packaging_{invoice}.png", "carton")),),
    ),
    Story(
        "D-10001", "quality", "phone", ago=9, by="collector", owner=None,
        description="Katrin Müller called: line {line_no} of invoice {invoice} ({sku}) is the wrong variant; Müller wants an exchange.",
        items=(Item(line=True),),
        steps=(
            Ack(8, "collector2"),
            Task(8, "collector2", "logistics", "logistics", "Müller received the wrong variant of {sku}. Please check the picking "
                 "list of {invoice}.", due_in=2),
            Answer(6, "logistics", "Picking error confirmed: the neighbouring variant was shipped. Return label sent to Müller."),
            Offer(4, "collector2", (
                Option("redelivery", description="Exchange against the ordered variant, free of charge"),
                Option("credit_note", "1", description="Full credit for the line"),
            ), message="Dear Ms Müller, sorry for the mix-up: it was a picking error. We can exchange the parts free of charge or "
                       "credit the line in full."),
            Reply(3, "collector2", "accept", option=1, note="Exchange, please; we need the parts by next week."),
            Task(2, "collector2", "logistics", "logistics", "Ship the correct {sku} to Müller by express and collect the wrong ones "
                 "at the same time.", due_in=5),
            Note(2, "collector2", "Exchange agreed; I'll resolve the case once the return has arrived."),
        ),
    ),
    Story(
        "D-10005", "late_delivery", "email", ago=30, by="collector", owner="demo",
        description="Florian Huber: the goods of invoice {invoice} arrived late; Bayern will not pay until compensation is agreed.",
        items=(Item(pick="newest"),),
        steps=(
            Ack(29, "demo"),
            Check(28, "demo", "similar_past_disputes", "yes", "Bayern's third dispute this year: see the instalment plan and the "
                  "case with our lawyers."),
            Check(28, "demo", "market_change", "yes", "Bayern stopped paying in the summer; its parent Kessler pays on time."),
            Note(28, "demo", "Bayern uses disputes to buy time. Let's check the facts quickly and answer firmly."),
            Task(27, "demo", "sales", "sales", "Did Bayern agree to the delivery date of order {po}?", due_in=4),
            Answer(22, "sales", "Yes: the date was moved at Florian Huber's own request; the e-mail is in the CRM."),
            Message(20, "demo", "Dear Mr Huber, the delivery date for order {po} was moved at your own request, and the goods "
                    "arrived on the new date. We therefore ask you to pay invoice {invoice} without delay."),
            Task(5, "demo", "logistics", "logistics", "Please send me the signed delivery receipt for {invoice}; I'll attach it to "
                 "the rejection.", due_in=7),
        ),
    ),
    Story(
        "D-10002", "quality", "email", ago=16, by="collector", owner="collector",
        description="Thomas Schneider: the {product} ({sku}) of line {line_no} of invoice {invoice} show corrosion after two "
        "weeks in use.",
        items=(Item(pick="newest", line=True),),
        steps=(
            Ack(15, "collector"),
            Evidence(15, "collector", Pdf(
                "Inspection_report_{invoice}.pdf", "Incoming inspection report / Wareneingangsprüfung",
                (("Supplier", "Nordlicht Components GmbH"), ("Invoice", "{invoice}"), ("Item", "{sku}"),
                 ("Quantity", "{qty} {unit}"), ("Result", "Rejected: corrosion")),
                ("Corrosion on the housing after 14 days of operation in a humid environment.",),
                footer="{buyer} - Quality assurance")),
            Evidence(15, "collector", Photo("corrosion_{sku}.png", "auto")),
            Check(13, "collector", "contract_terms_met", "unknown", "The specification does not say whether the coating must "
                  "withstand a humid environment."),
            Check(13, "collector", "delivery_proven", "yes"),
            Task(13, "collector", "quality", "quality", "Is the coating of {sku} rated for humid environments? Please look at the "
                 "photos and the report.", due_in=3),
            Answer(10, "quality", "The standard coating is for indoor use (C2). Their environment is C4: the wrong variant was "
                   "ordered, it is not a defect."),
            Task(9, "collector", "logistics", "logistics", "Were the {sku} for Schneider stored outdoors at any point in transit?",
                 due_in=2),
            Message(8, "collector", "Dear Mr Schneider, our quality team found that the standard coating is rated for indoor use. "
                    "Could you tell us the conditions where the parts are installed? A variant for humid environments is available."),
            Note(3, "collector", "Tobias hasn't answered about outdoor storage yet; chased him today."),
        ),
    ),
    Story(
        "D-20001", "contract_terms", "email", ago=7, by="manager", owner="manager",
        description="Erik Lindqvist: the prices on invoice {invoice} are 4% above the contract prices, which Baltic takes to be "
        "freight, although the contract says DAP Gothenburg.",
        items=(Item(share="0.04"),),
        steps=(
            Ack(6, "manager", note="Checking the Incoterms and the price basis of the contract."),
            Message(6, "manager", "Dear Mr Lindqvist, thank you: we are checking the price basis of our contract and will reply by "
                    "Friday."),
            Note(6, "manager", "The 2025 contract says FCA Bremen, the 2026 one DAP. Lena to confirm which applies to order {po}."),
        ),
    ),
    Story(
        "D-10004", "quality", "phone", ago=5, by="collector", owner="collector2",
        description="Dr. Kessler called: the {product} of invoice {invoice} are the wrong variant for their new line; Kessler holds "
        "the invoice until it is clarified.",
        steps=(
            Ack(4, "collector2"),
            Message(4, "collector2", "Dear Dr Kessler, thank you for your call. We are checking the order confirmation for {po} "
                    "against the variant you need and will call you back tomorrow."),
            Note(4, "collector2", "The order confirmation shows the variant they ordered; probably their engineering changed the "
                 "specification. Asked Lena to check."),
        ),
    ),
    Story(
        "D-10003", "duplicate_billing", "email", ago=4, by="collector2", owner="collector2",
        description="Laura Becker: invoice {invoice} looks like a duplicate of an earlier invoice for the same order {po}.",
        items=(Item(pick="newest"),),
        steps=(
            Ack(3, "collector2"),
            Message(3, "collector2", "Dear Ms Becker, invoice {invoice} is for the second partial delivery of order {po}; the first "
                    "invoice covered the other half. The delivery note is attached.", files=(Pdf(
                        "Delivery_note_{po}.pdf", "Delivery note / Lieferschein",
                        (("Order", "{po}"), ("Invoice", "{invoice}"), ("Delivered", "{delivered}"), ("Item", "{sku}"),
                         ("Quantity", "{qty} {unit}")),
                        ("Partial delivery 2 of 2. Partial delivery 1 was invoiced separately.",),
                        footer="Nordlicht Components GmbH - Logistics"),)),
            Move(1, "collector2", "withdrawn", note="Ms Becker confirmed by phone: second partial delivery, not a duplicate. "
                 "Withdrawn."),
        ),
    ),
    Story(
        "D-10004", "missing_order", "email", ago=2, by="collector", owner="collector",
        description="Kessler's accounts payable cannot match invoice {invoice} to a purchase order ({po} is unknown in their "
        "system) and have put it on hold.",
        items=(Item(pick="newest"),),
        steps=(
            Message(1, "collector", "Dear Dr Kessler, order {po} was placed by your Munich plant under the group framework "
                    "agreement. The order confirmation is attached.", files=(Pdf(
                        "Order_confirmation_{po}.pdf", "Order confirmation / Auftragsbestätigung",
                        (("Order", "{po}"), ("Invoice", "{invoice}"), ("Item", "{sku}"), ("Quantity", "{qty} {unit}")),
                        ("Placed under the Kessler group framework agreement 2026.",),
                        footer="Nordlicht Components GmbH - Sales"),)),
            Payment(0, "collector", "all", text="Kessler Industrie Holding: {invoice} paid once the order was matched"),
        ),
    ),
    Story(
        "D-10001", "late_delivery", "email", ago=0, by="collector", owner=None,
        description="Katrin Müller writes: the goods of order {po} arrived four days late; Müller asks for a price reduction and "
        "holds the invoice.",
        items=(Item(pick="newest"),),
    ),
    Story(
        "D-20002", "quantity", "api", ago=2, by="collector", owner=None,
        description="Claim from the buyer's ERP (goods receipt for order {po}): line {line_no}, {sku}: {short} {unit} fewer "
        "received than invoiced.",
        items=(Item(pick="newest", line=True, units="0.1", products=("BRG", "CPL", "SEAL", "PCB", "SNS")),),
    ),
)
# fmt: on

NORDLICHT = Cast(
    administrator="owner",
    members={
        "owner": "anna.weber@nordlicht.example",
        "demo": DEMO_LOGIN,
        "collector": "jonas.fischer@nordlicht.example",
        "collector2": "liu.yang@nordlicht.example",
    },
    colleagues=(
        Colleague("manager", "Markus Hoffmann", "markus.hoffmann@nordlicht.example", Role.CREDIT_MANAGER, "en"),
        Colleague("sales", "Lena Wagner", "lena.wagner@nordlicht.example", Role.COLLABORATOR, "en"),
        Colleague("logistics", "Tobias Klein", "tobias.klein@nordlicht.example", Role.COLLABORATOR, "en"),
        Colleague("quality", "Emily Carter", "emily.carter@nordlicht.example", Role.COLLABORATOR, "en"),
    ),
    thresholds={"EUR": "1500", "USD": "1500"},
    rules=(
        Rule("Large disputes (EUR 15,000 and above) → Anna Weber", owner="owner", min_amount="15000", currency="EUR"),
        Rule("苏州恒瑞 (China) → 刘洋", owner="collector2", buyer="D-30001"),
        Rule("Quality claims: 刘洋 and Jonas Fischer in turn", pool=("collector2", "collector"), reason="quality"),
    ),
    bank="SEPA",
    stories=NORDLICHT_STORIES,
)

CASTS = {"huadong-precision": HUADONG, "nordlicht-components": NORDLICHT}
