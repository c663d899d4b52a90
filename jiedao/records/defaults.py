"""Default reference data, loaded by migration 0002 (and safe to load again).

Activity types follow the seed's own wording and units; the pandemic-era counts are activity
types like any other (a tally of 密接 is "on date D, unit U recorded Q 人").
"""

# section, name, measure
ACTIVITY_TYPES: list[tuple[str, str, str]] = [
    ("市容整治", "清理小区庭院", "个次"),
    ("市容整治", "清理楼道杂物", "处"),
    ("市容整治", "清理垃圾杂物", "车"),
    ("市容整治", "清除垃圾广告", "条"),
    ("市容整治", "规范非机动车", "辆"),
    ("市容整治", "现场整治不文明行为", "次"),
    ("市容整治", "拆除违章搭建", "平方米"),
    ("文明创建", "开展活动", "场"),
    ("文明创建", "参与人员", "人次"),
    ("文明创建", "发放宣传资料", "份"),
    ("河长制", "打捞河面漂浮物", "车"),
    ("河长制", "清理沿岸垃圾杂物", "处"),
    ("河长制", "劝离违规垂钓", "人次"),
    ("河长制", "缴获渔具", "副"),
    ("垃圾分类", "建设垃圾分类亭", "个"),
    ("垃圾分类", "垃圾分类宣传活动", "次"),
    ("垃圾分类", "张贴垃圾分类海报", "张"),
    ("安全生产", "警示教育活动", "场"),
    ("安全生产", "灭火逃生演练", "场"),
    ("安全生产", "整治占用消防通道汽车", "辆"),
    ("安全生产", "整治占用消防通道电动车", "辆"),
    ("安全生产", "清理消防通道杂物", "处"),
    ("反诈宣传", "发放反诈宣传资料", "份"),
    ("反诈宣传", "张贴反诈海报", "张"),
    ("反诈宣传", "推送反诈信息", "条"),
    ("疫情防控", "重点地区来(返)昌人员", "人"),
    ("疫情防控", "境外来(返)昌人员", "人"),
    ("疫情防控", "密接", "人"),
    ("疫情防控", "次密接", "人"),
    ("疫情防控", "核酸检测", "人次"),
    ("疫情防控", "疫苗接种(第一剂)", "剂"),
    ("疫情防控", "疫苗接种(第二剂)", "剂"),
    ("疫情防控", "疫苗接种(加强针)", "剂"),
    ("疫情防控", "疫苗接种(单剂型)", "剂"),
]

# code, name, unit, cumulative
INDICATORS: list[tuple[str, str, str, bool]] = [
    ("foreign-capital", "利用外资实际到位资金", "万美元", True),
    ("domestic-capital", "实际利用内资", "万元", True),
    ("out-of-province-capital", "利用省外资金", "万元", True),
    ("fixed-asset-investment", "固定资产投资", "亿元", True),
    ("service-revenue", "规上服务业营业收入", "亿元", True),
    ("retail-sales", "限上社会消费品零售总额", "万元", True),
    ("tax-revenue", "税收收入", "万元", True),
    ("new-building-enterprises", "新增楼宇注册企业", "家", True),
]


def load_defaults(activity_type_model, indicator_model) -> int:
    created = 0
    for sort, (section, name, measure) in enumerate(ACTIVITY_TYPES, start=1):
        _obj, new = activity_type_model.objects.get_or_create(
            name=name, defaults={"section": section, "measure": measure, "sort": sort * 10})
        created += new
    for sort, (code, name, unit, cumulative) in enumerate(INDICATORS, start=1):
        _obj, new = indicator_model.objects.get_or_create(
            code=code, defaults={"name": name, "unit": unit, "cumulative": cumulative,
                                 "sort": sort * 10})
        created += new
    return created
