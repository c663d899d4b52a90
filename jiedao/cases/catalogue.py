"""The default catalogue, taken from the seed and the standards (editable afterwards in 系统配置).

Service menu by population group (the seed's "点单" menu), the three 红管家 dispute types,
数字城管 部件/事件 classes for hazards (GB/T 30428), and one general entry for every other kind.
Deadlines follow hotline practice (standards.md): 2 h for danger, 7 working days in general,
15 for complex matters; all are settings of the category, not constants in code.
"""

from .models import CaseKind, DeadlineUnit

H, WD = DeadlineUnit.HOURS, DeadlineUnit.WORKING_DAYS

# (kind, code, group, name, deadline, unit, accept_hours, home_visit, public)
DEFAULT_CATEGORIES = [
    (CaseKind.SERVICE_ORDER, "svc-housekeeping", "在职人群", "上门家政服务", 3, WD, 4, True, True),
    (CaseKind.SERVICE_ORDER, "svc-employment", "在职人群", "就业指导", 5, WD, 4, False, True),
    (CaseKind.SERVICE_ORDER, "svc-legal-advice", "在职人群", "法律咨询", 3, WD, 4, False, True),
    (CaseKind.SERVICE_ORDER, "svc-counselling", "青少年", "心理疏导", 3, WD, 4, False, True),
    (CaseKind.SERVICE_ORDER, "svc-after-school", "青少年", "课后托管", 5, WD, 4, False, True),
    (CaseKind.SERVICE_ORDER, "svc-tutoring", "青少年", "课业辅导", 5, WD, 4, False, True),
    (CaseKind.SERVICE_ORDER, "svc-relief", "困难群众", "帮扶救助", 3, WD, 4, True, True),
    (CaseKind.SERVICE_ORDER, "svc-rehab", "困难群众", "医疗康复", 3, WD, 4, True, True),
    (CaseKind.SERVICE_ORDER, "svc-legal-aid", "困难群众", "法律援助", 5, WD, 4, False, True),
    (CaseKind.SERVICE_ORDER, "svc-wish", "微心愿", "微心愿", 10, WD, 24, False, True),
    (CaseKind.DISPUTE, "dispute-public", "红管家", "公共事务", 7, WD, 4, False, True),
    (CaseKind.DISPUTE, "dispute-family", "红管家", "家庭纠纷", 7, WD, 4, False, True),
    (CaseKind.DISPUTE, "dispute-property", "红管家", "物业服务", 7, WD, 4, False, True),
    (CaseKind.DEMAND, "demand-general", "民生诉求", "群众诉求", 7, WD, 2, False, True),
    (CaseKind.DEMAND, "demand-12345", "民生诉求", "12345热线转办", 7, WD, 2, False, False),
    (CaseKind.ENTERPRISE_DEMAND, "ent-policy", "企业诉求", "政策咨询", 7, WD, 4, False, False),
    (CaseKind.ENTERPRISE_DEMAND, "ent-elements", "企业诉求", "用工用地融资", 15, WD, 4, False, False),
    (CaseKind.ENTERPRISE_DEMAND, "ent-environment", "企业诉求", "营商环境", 7, WD, 4, False, False),
    (CaseKind.HAZARD, "part-facilities", "部件", "公用设施", 7, WD, 2, False, True),
    (CaseKind.HAZARD, "part-traffic", "部件", "道路交通", 7, WD, 2, False, True),
    (CaseKind.HAZARD, "part-cityscape", "部件", "市容环境", 7, WD, 2, False, True),
    (CaseKind.HAZARD, "part-greening", "部件", "园林绿化", 7, WD, 2, False, True),
    (CaseKind.HAZARD, "part-housing", "部件", "房屋土地", 7, WD, 2, False, True),
    (CaseKind.HAZARD, "part-other", "部件", "其他部件", 7, WD, 2, False, True),
    (CaseKind.HAZARD, "event-cityscape", "事件", "市容环境", 3, WD, 2, False, True),
    (CaseKind.HAZARD, "event-advertising", "事件", "宣传广告", 3, WD, 2, False, True),
    (CaseKind.HAZARD, "event-construction", "事件", "施工管理", 3, WD, 2, False, True),
    (CaseKind.HAZARD, "event-street-order", "事件", "街面秩序", 3, WD, 2, False, True),
    (CaseKind.HAZARD, "event-emergency", "事件", "突发事件", 2, H, 1, False, True),
    (CaseKind.HAZARD, "event-other", "事件", "其他事件", 7, WD, 2, False, True),
    (CaseKind.HAZARD, "safety-fire", "安全排查", "消防安全隐患", 5, WD, 2, False, False),
    (CaseKind.HAZARD, "safety-production", "安全排查", "安全生产隐患", 5, WD, 2, False, False),
    (CaseKind.PETITION, "petition-general", "信访", "信访事项", 15, WD, 4, False, False),
    (CaseKind.RECTIFICATION, "rectify-audit", "整改", "巡察反馈问题", 20, WD, 8, False, False),
    (CaseKind.RECTIFICATION, "rectify-inspection", "整改", "检查发现问题", 15, WD, 8, False, False),
    (CaseKind.SUGGESTION, "suggestion-roundtable", "议题", "圆桌会议题", 15, WD, 8, False, False),
    (CaseKind.SUGGESTION, "suggestion-joint", "议题", "联席会议意见", 15, WD, 8, False, False),
]


def load(category_model) -> int:
    """Create the categories that are missing (by code); return how many were created."""
    created = 0
    for sort, (kind, code, group, name, value, unit, accept, home, public) in enumerate(DEFAULT_CATEGORIES):
        _obj, made = category_model.objects.get_or_create(
            code=code,
            defaults=dict(kind=kind, group=group, name=name, deadline_value=value, deadline_unit=unit,
                          accept_hours=accept, home_visit=home, public=public, sort=sort),
        )
        created += made
    return created
