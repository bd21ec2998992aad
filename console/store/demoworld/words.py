"""Word lists the demo world draws synthetic names from.

Kept apart from the generator so the lists can grow without touching the logic. Every
enterprise trade name starts with 某 ("so-and-so"), so no generated name can be mistaken
for a real company that happens to carry a red or black credit rating in the demo.
"""

from __future__ import annotations

from typing import Final

# The most common Chinese surnames, roughly in order of frequency (weights fall with rank).
SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
)

# Characters commonly used in given names; a given name is one or two of them.
GIVEN_CHARS: Final = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国海峰文斌波宇浩凯"
    "俊帆晨阳雪琳佳欣怡婷宁安亮锋涌健斌志坚立新卫东春晓丹云飞跃宏达永庆林森雨露金鑫晖颖蕾倩"
)

# Second character of the synthetic trade names ("某华", "某盛", ...).
TRADE_CHARS: Final = (
    "华盛兴达丰源泰隆昌鑫恒宏信诚嘉汇通瑞祥康润凯骏鸿创力新星腾远宇豪旺利荣安顺益联科升晟"
)

# Road name stems and suffixes for synthetic addresses.
ROAD_STEMS: Final = (
    "东海",
    "开发",
    "滨海",
    "工业",
    "创业",
    "兴业",
    "环城",
    "迎宾",
    "文化",
    "解放",
    "人民",
    "青年",
    "光明",
    "建设",
    "新华",
    "中山",
    "学院",
    "江滨",
    "海门",
    "经中",
    "纬三",
    "纬五",
    "东方",
    "发展",
    "科技",
    "园区",
    "港口",
    "永宁",
    "腾达",
    "通港",
)
ROAD_SUFFIXES: Final = ("路", "大道", "街", "东路", "西路", "南路", "北路")

# Industrial park suffixes appended to a district's short name.
PARK_SUFFIXES: Final = (
    "经济开发区",
    "高新技术产业园区",
    "工业园区",
    "临港产业园",
    "绿色化工园区",
    "产业集聚区",
    "小微企业园",
    "循环经济产业园",
)

CHINESE_NUMERALS: Final = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十")
