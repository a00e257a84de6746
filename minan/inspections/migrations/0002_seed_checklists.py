"""Shipped checklists (CONFIGURABLE seed data): ten
families, each published as version 1 without an author. The bureau edits them by making new versions.

Question texts are composed from the standards and rules cited in each item's `basis`; where a standard's
clause text is not reproduced, the item names the subject only and cites the standard's chapter.
The major-hazard check links one item to each available clause of the 2023 criteria (hazards 0002).
Reversing deletes every version of these ten codes.
"""

from django.db import migrations
from django.utils import timezone

PF, NUM, TEXT, CHOICE, PHOTO = "pass_fail", "number", "text", "choice", "photo"

# Each template: (code, title, description, kinds, institution_kinds, cadence, basis, default category,
# sections = [(title, [(code, question, basis, options), ...]), ...]).
F7_1 = "养老机构消防安全管理规定（民发〔2023〕37号）"
F7_2 = "GB/T 40248-2021 §7.3"
F7_3 = "养老机构消防自查一本通（民安默认，可配置）"

TEMPLATES = [
    (
        "fire-daily", "消防每日自查", "养老机构消防每日自查（消防自查一本通·每日），由机构工作人员逐项检查。",
        ["self"], ["elderly_care"], "daily", f"{F7_3}；{F7_1}；{F7_2}", "fire",
        [
            ("安全疏散", [
                ("D01", "疏散通道、安全出口畅通，未锁闭、未堵塞", F7_2, {"photo_on_fail": True, "severity": "high"}),
                ("D02", "常闭式防火门处于关闭状态", F7_2, {}),
                ("D03", "疏散指示标志、应急照明灯完好并处于工作状态", F7_2, {}),
            ]),
            ("消防器材", [
                ("D04", "灭火器在位，压力表指针在绿区", F7_3, {"photo_on_fail": True}),
            ]),
            ("用火用电用气", [
                ("D05", "无电动自行车、电动轮椅进入室内停放，无室内、楼道、出口处充电", F7_1,
                 {"photo_on_fail": True, "severity": "high", "hazard_category": "electrical"}),
                ("D06", "厨房用餐结束后燃气阀门、灶具已关闭", F7_3, {"hazard_category": "gas"}),
                ("D07", "居室内无吸烟、无明火", F7_3, {}),
                ("D08", "老年人居室内无电热毯、电暖器、“热得快”等大功率电器", F7_3,
                 {"photo_on_fail": True, "hazard_category": "electrical"}),
            ]),
            ("值班值守", [
                ("D09", "消防控制室本班在岗持证（消防设施操作员）人数（无消防控制室的填“不适用”）", F7_1,
                 {"answer_type": NUM, "min_value": "2", "unit": "人", "severity": "high"}),
                ("D10", "夜间防火巡查每2小时一次，巡查记录完整", F7_2, {}),
                ("D11", "夜间护理员在岗在位", F7_3, {"hazard_category": "service"}),
            ]),
        ],
    ),
    (
        "fire-weekly", "消防每周自查", "养老机构消防每周自查（消防自查一本通·每周）。",
        ["self"], ["elderly_care"], "weekly", F7_3, "fire",
        [
            ("消防设施器材", [
                ("W01", "微型消防站器材配备齐全、完好", F7_3, {}),
                ("W02", "室内消火栓箱内水枪、水带、按钮等齐全完好", F7_3, {}),
                ("W03", "自动喷水灭火系统压力表读数正常", F7_3, {}),
                ("W04", "火灾报警控制器无故障，故障已排除", F7_3, {}),
            ]),
            ("可燃物管理", [
                ("W05", "楼道、楼梯间、设备用房等处无可燃杂物堆放", F7_3, {"photo_on_fail": True}),
            ]),
        ],
    ),
    (
        "fire-monthly", "消防每月检查", "养老机构每月防火检查（GB/T 40248-2021 §7.3 至少每月一次；消防自查一本通·每月）。",
        ["self"], ["elderly_care"], "monthly", f"{F7_2}；{F7_3}；{F7_1}", "fire",
        [
            ("防火检查", [
                ("M01", "消防车通道畅通，未被占用、堵塞", F7_2, {"photo_on_fail": True}),
                ("M02", "室外消火栓、消防水池水箱等消防水源完好可用", F7_2, {}),
                ("M03", "疏散楼梯、安全出口设置和使用符合要求", F7_2, {}),
                ("M04", "已开展全面防火检查，发现的隐患已登记入台账", F7_3, {}),
                ("M05", "灭火器月度检查卡已填写", F7_3, {}),
            ]),
            ("设施测试", [
                ("M06", "应急照明灯放电测试正常", F7_3, {}),
                ("M07", "可燃气体泄漏报警器测试正常", F7_3, {"hazard_category": "gas"}),
            ]),
            ("电气与充电", [
                ("M08", "配电箱（柜）无异常发热、无私拉乱接，可燃吊顶内电线穿金属管或线槽保护", F7_1,
                 {"hazard_category": "electrical"}),
                ("M09", "电动自行车、电动轮椅集中停放和充电场所设置规范", F7_1,
                 {"hazard_category": "electrical"}),
            ]),
        ],
    ),
    (
        "night-patrol", "夜间防火巡查", "夜间防火巡查，至少每2小时一次（GB/T 40248-2021 §7.3）；巡查人员签名，不能当场整改的问题立即报告。",
        ["self"], ["elderly_care", "child_welfare"], "two_hourly", F7_2, "fire",
        [
            ("巡查内容", [
                ("N01", "无违规用火、用电（含电动车违规充电）", F7_2, {"severity": "high"}),
                ("N02", "疏散通道、安全出口畅通，未锁闭", F7_2, {"severity": "high", "photo_on_fail": True}),
                ("N03", "疏散指示标志、应急照明完好有效", F7_2, {}),
                ("N04", "常闭式防火门处于关闭状态，防火卷帘下无堆放物品", F7_2, {}),
                ("N05", "消防设施、器材在位完好，消防安全标志完好", F7_2, {}),
                ("N06", "消防安全重点部位人员在岗在位", F7_2, {}),
                ("N07", "消防车通道畅通", F7_2, {}),
                ("N08", "夜间值班、护理人员在岗", F7_2, {"hazard_category": "service"}),
                ("N09", "发现的问题已当场处置，不能处置的已立即报告", F7_2, {}),
            ]),
            ("巡查记录", [
                ("N10", "拍摄重点部位巡查照片", F7_2, {"answer_type": PHOTO, "note_on_fail": False}),
            ]),
        ],
    ),
    (
        "gb38600", "养老机构服务安全（九防）", "GB 38600-2019 养老机构服务安全基本规范：基本要求、安全风险评估和九防。",
        ["sector", "cross", "expert", "self"], ["elderly_care"], "quarterly", "GB 38600-2019", "service",
        [
            ("基本要求", [
                ("G01", "符合消防、卫生与健康、环境保护、食品药品、建筑、设施设备标准中的强制性规定",
                 "GB 38600-2019 第4章", {}),
                ("G02", "安全标志符合 GB 2893、GB 2894", "GB 38600-2019 第4章", {}),
                ("G03", "养老护理员经培训合格后上岗", "GB 38600-2019 第4章", {}),
                ("G04", "建立昼夜巡查制度和交接班制度，并有书面记录", "GB 38600-2019 第4章", {}),
                ("G05", "建立老年人个人信息和视频监控内容保密制度", "GB 38600-2019 第4章", {}),
                ("G06", "防范在机构内兜售“保健品”等推销行为", "GB 38600-2019 第4章", {}),
            ]),
            ("安全风险评估", [
                ("G07", "老年人入院前已进行服务安全风险评估（覆盖九类风险）", "GB 38600-2019 第5章", {}),
            ]),
            ("服务防护（九防）", [
                ("G08", "防噎食：有风险的老年人已采取防护措施，工作人员掌握应急处置", "GB 38600-2019 第6章（防噎食）", {}),
                ("G09", "防食品药品误食：已采取防护措施，工作人员掌握应急处置", "GB 38600-2019 第6章（防食品药品误食）", {}),
                ("G10", "防压疮：有风险的老年人已采取防护措施", "GB 38600-2019 第6章（防压疮）；MZ/T 132-2019", {}),
                ("G11", "防烫伤：已采取防护措施，工作人员掌握应急处置", "GB 38600-2019 第6章（防烫伤）", {}),
                ("G12", "防坠床：有风险的老年人已采取防护措施", "GB 38600-2019 第6章（防坠床）", {}),
                ("G13", "防跌倒：有风险的老年人已采取防护措施", "GB 38600-2019 第6章（防跌倒）；MZ/T 185-2021", {}),
                ("G14", "防走失：有风险的老年人已采取防护措施", "GB 38600-2019 第6章（防走失）", {}),
                ("G15", "防他伤和自伤：已采取防护措施，工作人员掌握应急处置", "GB 38600-2019 第6章（防他伤和自伤）", {}),
                ("G16", "防文娱活动意外：活动前已评估，活动中有人员看护", "GB 38600-2019 第6章（防文娱活动意外）", {}),
            ]),
        ],
    ),
    (
        "major-hazard-check", "重大事故隐患判定检查",
        "按《养老机构重大事故隐患判定标准》（民政部办公厅，2023-11-27）已载入的条款逐项检查；任一项不合格即判定为重大事故隐患。"
        "其余条款载入判定标准目录后，请制作新版本补充。",
        ["sector", "cross", "expert", "self"], ["elderly_care"], "quarterly", "养老机构重大事故隐患判定标准（2023）",
        "building",
        [
            ("重要设施设备", [
                ("MH01", "机构使用的建筑未被鉴定为C级或D级危房，未被住房城乡建设部门认定存在重大结构安全隐患",
                 "MCA2023-4-1", {"clause": "MCA2023-4-1", "major_on_fail": True, "severity": "high", "hazard_category": "building"}),
                ("MH02", "建筑消防设计、消防设施、电气和燃气设施未被认定违反法律法规或强制性标准，具备基本消防安全技术条件",
                 "MCA2023-4-2", {"clause": "MCA2023-4-2", "major_on_fail": True, "severity": "high", "hazard_category": "fire"}),
                ("MH03", "老年人居住的建筑未采用易燃可燃夹芯材料彩钢板搭建，未大面积使用可燃装修材料",
                 "MCA2023-4-3", {"clause": "MCA2023-4-3", "major_on_fail": True, "severity": "high", "hazard_category": "fire"}),
                ("MH04", "电梯、锅炉、氧气管道等特种设备有生产许可、经检验合格，不属于明令淘汰或已达报废条件",
                 "MCA2023-4-4", {"clause": "MCA2023-4-4", "major_on_fail": True, "severity": "high", "hazard_category": "equipment"}),
            ]),
            ("资格资质", [
                ("MH05", "内设医疗机构已取得医疗机构执业许可证或按规定备案", "MCA2023-5-1",
                 {"clause": "MCA2023-5-1", "major_on_fail": True, "severity": "high", "hazard_category": "other"}),
                ("MH06", "内设食堂已取得食品经营许可证", "MCA2023-5-2", {"clause": "MCA2023-5-2", "major_on_fail": True, "severity": "high", "hazard_category": "food"}),
                ("MH07", "特种设备安全管理和作业人员均取得相应资格", "MCA2023-5-3",
                 {"clause": "MCA2023-5-3", "major_on_fail": True, "severity": "high", "hazard_category": "equipment"}),
            ]),
        ],
    ),
    (
        "kitchen", "食堂/明厨亮灶巡查", "互联网+明厨亮灶：视频或现场巡查机构食堂，传感器读数按巡查时的实际值填写。",
        ["video", "sector", "self"], [], "daily", "互联网+明厨亮灶（民安默认，可配置）", "food",
        [
            ("人员行为", [
                ("K01", "厨师帽", "明厨亮灶 人员行为", {"answer_type": CHOICE, "choices": ["有", "无"], "failing_choices": ["无"], "severity": "low"}),
                ("K02", "口罩", "明厨亮灶 人员行为",
                 {"answer_type": CHOICE, "choices": ["有", "无", "不确定"], "failing_choices": ["无"], "severity": "low"}),
                ("K03", "厨师服（工作服）", "明厨亮灶 人员行为", {"answer_type": CHOICE, "choices": ["有", "无"], "failing_choices": ["无"], "severity": "low"}),
                ("K04", "赤膊", "明厨亮灶 人员行为", {"answer_type": CHOICE, "choices": ["是", "否"], "failing_choices": ["是"], "severity": "low"}),
                ("K05", "后厨内无吸烟", "明厨亮灶 人员行为", {}),
                ("K06", "操作时无玩手机", "明厨亮灶 人员行为", {"severity": "low"}),
                ("K07", "后厨无陌生人员进入", "明厨亮灶 人员行为", {"hazard_category": "security"}),
            ]),
            ("后厨环境", [
                ("K08", "无鼠患、虫害", "明厨亮灶 后厨环境", {"photo_on_fail": True, "severity": "high"}),
                ("K09", "无动火离人", "明厨亮灶 后厨环境", {"severity": "high", "hazard_category": "fire"}),
                ("K10", "垃圾桶加盖，无满溢", "明厨亮灶 后厨环境", {"severity": "low"}),
                ("K11", "地面无积水、油污", "明厨亮灶 后厨环境", {"severity": "low"}),
            ]),
            ("加工过程", [
                ("K12", "生熟分开：工具、容器分开使用并有标识", "明厨亮灶 加工过程", {}),
                ("K13", "食品解冻方式规范", "明厨亮灶 加工过程", {}),
                ("K14", "餐用具清洗消毒规范", "明厨亮灶 加工过程", {}),
                ("K15", "每餐每个品种留样重量", "明厨亮灶 留样（默认≥125克，可配置）",
                 {"answer_type": NUM, "min_value": "125", "unit": "g", "photo_on_fail": True}),
                ("K16", "留样冷藏保存时长", "明厨亮灶 留样（默认≥48小时，可配置）", {"answer_type": NUM, "min_value": "48", "unit": "h"}),
                ("K17", "进货查验记录、索证索票齐全", "明厨亮灶 加工过程", {}),
                ("K18", "从业人员健康证有效，晨检记录完整", "明厨亮灶 加工过程", {}),
                ("K19", "库房、后厨出入口设置挡鼠板", "明厨亮灶 加工过程", {"severity": "low"}),
                ("K20", "食品离地、离墙存放", "明厨亮灶 加工过程", {"severity": "low"}),
            ]),
            ("设施与传感器", [
                ("K21", "留样冰箱温度", "明厨亮灶 传感器（默认0–8 ℃，可配置）",
                 {"answer_type": NUM, "min_value": "0", "max_value": "8", "unit": "℃"}),
                ("K22", "紫外线消毒运行时长", "明厨亮灶 传感器（默认≥30分钟，可配置）",
                 {"answer_type": NUM, "min_value": "30", "unit": "min"}),
                ("K23", "冷库、冷藏设备温湿度正常", "明厨亮灶 传感器", {}),
                ("K24", "燃气泄漏报警器工作正常", "明厨亮灶 传感器", {"severity": "high", "hazard_category": "gas"}),
                ("K25", "排烟罩、油烟净化设施运行正常", "明厨亮灶 传感器", {"hazard_category": "fire"}),
            ]),
            ("资质", [
                ("K26", "食堂已取得食品经营许可证", "MCA2023-5-2",
                 {"clause": "MCA2023-5-2", "major_on_fail": True, "severity": "high"}),
            ]),
        ],
    ),
    (
        "child-welfare", "儿童福利机构安全检查",
        "按 DB64/T 2140-2025 儿童福利服务机构安全管理规范的章节分项检查（各项具体要求以标准原文为准）；"
        "法律依据：儿童福利机构管理办法（民政部令第63号）。",
        ["sector", "cross", "expert", "self"], ["child_welfare"], "monthly", "DB64/T 2140-2025；MZ/T 131-2019", "other",
        [
            ("设施设备安全", [
                ("C01", "建筑安全：房屋无结构安全隐患，按规定开展安全检查", "DB64/T 2140-2025（建筑）", {"hazard_category": "building"}),
                ("C02", "消防安全：消防设施器材完好，疏散通道畅通", "DB64/T 2140-2025（消防）", {"hazard_category": "fire"}),
                ("C03", "设施设备安全：设施设备、儿童用品定期检查维护", "DB64/T 2140-2025（设施设备）", {"hazard_category": "equipment"}),
                ("C04", "食品安全：食堂、食品采购储存和加工符合要求", "DB64/T 2140-2025（食品）", {"hazard_category": "food"}),
                ("C05", "水、电、气使用安全", "DB64/T 2140-2025（水电气）", {"hazard_category": "electrical"}),
                ("C06", "交通安全：车辆和接送管理符合要求", "DB64/T 2140-2025（交通）", {}),
                ("C07", "安全防范：门卫、视频监控等安防措施落实", "DB64/T 2140-2025（安防）", {"hazard_category": "security"}),
                ("C08", "信息与档案安全：儿童信息、档案妥善保管", "DB64/T 2140-2025（信息档案）", {}),
                ("C09", "工作人员：配备、培训和管理符合要求", "DB64/T 2140-2025（工作人员）", {"hazard_category": "service"}),
            ]),
            ("服务安全", [
                ("C10", "儿童保护：防范侵害儿童的措施落实", "DB64/T 2140-2025（儿童保护）", {"hazard_category": "service", "severity": "high"}),
                ("C11", "接收入院：入院评估和手续规范", "DB64/T 2140-2025（接收入院）", {"hazard_category": "service"}),
                ("C12", "养育照料安全", "DB64/T 2140-2025（养育照料）", {"hazard_category": "service"}),
                ("C13", "医疗安全", "DB64/T 2140-2025（医疗）", {"hazard_category": "service"}),
                ("C14", "卫生防疫", "DB64/T 2140-2025（卫生）", {"hazard_category": "service"}),
                ("C15", "康复服务安全", "DB64/T 2140-2025（康复）", {"hazard_category": "service"}),
                ("C16", "教育活动安全", "DB64/T 2140-2025（教育）", {"hazard_category": "service"}),
                ("C17", "外出活动安全：外出有审批、有人员看护", "DB64/T 2140-2025（外出）", {"hazard_category": "service"}),
            ]),
            ("应急管理", [
                ("C18", "应急预案齐全并及时修订", "DB64/T 2140-2025（应急预案）", {}),
                ("C19", "按计划开展应急演练", "DB64/T 2140-2025（演练）", {}),
                ("C20", "安全监测和预警措施落实", "DB64/T 2140-2025（监测预警）", {}),
            ]),
        ],
    ),
    (
        "funeral", "殡葬服务机构安全检查", "按 MZ/T 144-2019 殡葬服务机构安全管理指南的章节分项检查（各项具体要求以标准原文为准）。",
        ["sector", "cross", "expert", "self"], ["funeral"], "monthly", "MZ/T 144-2019", "other",
        [
            ("基本要求与制度", [
                ("F01", "安全管理机构和安全生产责任制落实", "MZ/T 144-2019（基本要求）", {}),
                ("F02", "安全管理制度和操作规程健全", "MZ/T 144-2019（制度）", {}),
                ("F03", "从业人员安全教育培训已开展", "MZ/T 144-2019（培训）", {}),
            ]),
            ("设施设备安全", [
                ("F04", "设置禁止燃放烟花爆竹提示", "MZ/T 144-2019（设施设备安全）", {"hazard_category": "fire"}),
                ("F05", "燃气、燃油储存和使用安全", "MZ/T 144-2019（设施设备安全）", {"hazard_category": "gas", "severity": "high"}),
                ("F06", "灭火器等消防器材配置齐全、完好", "MZ/T 144-2019（设施设备安全）", {"hazard_category": "fire"}),
                ("F07", "火化机升级改造落实，烟气和污水处理设施运行正常", "MZ/T 144-2019（设施设备安全）", {"hazard_category": "equipment"}),
                ("F08", "电气线路敷设规范，无私拉乱接", "MZ/T 144-2019（设施设备安全）", {"hazard_category": "electrical"}),
                ("F09", "殡仪车辆状况良好，按期检验维护", "MZ/T 144-2019（设施设备安全）", {}),
            ]),
            ("服务安全与职业健康", [
                ("F10", "按规定开展日常安全巡查并记录", "MZ/T 144-2019（服务安全）", {}),
                ("F11", "火化等业务数据信息安全", "MZ/T 144-2019（服务安全）", {}),
                ("F12", "职业健康防护措施落实", "MZ/T 144-2019（职业健康）", {"hazard_category": "service"}),
            ]),
            ("隐患与应急", [
                ("F13", "隐患排查治理台账完整，隐患整改闭环", "MZ/T 144-2019（隐患管理）", {}),
                ("F14", "应急预案齐全，定期开展演练", "MZ/T 144-2019（应急管理）", {}),
                ("F15", "事故报告和处理符合规定", "MZ/T 144-2019（事故处理）", {}),
            ]),
        ],
    ),
    (
        "duty-visit", "包保督查", "包保干部到所包保机构的督查：值班值守、巡查记录、消防设施、隐患整改、四专员履职等。",
        ["duty"], [], "monthly", "包保责任制；养老机构消防安全管理规定（民发〔2023〕37号）", "other",
        [
            ("值班与巡查", [
                ("V01", "24小时值班值守落实，值班记录完整", F7_1, {"hazard_category": "security"}),
                ("V02", "防火巡查、夜间巡查（每2小时）记录完整", F7_2, {"hazard_category": "fire"}),
                ("V03", "消防控制室按规定由持证人员值班（无消防控制室的填“不适用”）", F7_1, {"hazard_category": "fire"}),
            ]),
            ("设施与隐患", [
                ("V04", "消防设施、器材完好有效", F7_2, {"hazard_category": "fire"}),
                ("V05", "疏散通道、安全出口畅通", F7_2, {"hazard_category": "fire", "severity": "high"}),
                ("V06", "此前发现的隐患已按期整改到位", "隐患闭环管理", {}),
            ]),
            ("制度与人员", [
                ("V07", "四专员（服务质量、安全、联络、社会监督）在岗履职", "四专员制度", {"hazard_category": "service"}),
                ("V08", "应急预案落实，按计划开展演练", F7_1, {}),
                ("V09", "工作人员已接受安全培训", F7_1, {}),
            ]),
            ("督查记录", [
                ("V10", "其他需要说明的情况（无则填“无”）", "", {"answer_type": TEXT, "points": 0, "note_on_fail": False}),
                ("V11", "现场督查照片", "", {"answer_type": PHOTO, "points": 0, "note_on_fail": False}),
            ]),
        ],
    ),
]  # fmt: skip

CODES = [t[0] for t in TEMPLATES]


def seed(apps, schema_editor):
    ChecklistTemplate = apps.get_model("inspections", "ChecklistTemplate")
    ChecklistSection = apps.get_model("inspections", "ChecklistSection")
    ChecklistItem = apps.get_model("inspections", "ChecklistItem")
    Clause = apps.get_model("hazards", "Clause")
    clauses = {c.key: c for c in Clause.objects.all()}
    now = timezone.now()
    for code, title, description, kinds, institution_kinds, cadence, basis, category, sections in TEMPLATES:
        if ChecklistTemplate.objects.filter(code=code).exists():
            continue
        template = ChecklistTemplate.objects.create(
            code=code, version=1, title=title, description=description, kinds=kinds,
            institution_kinds=institution_kinds, cadence=cadence, basis=basis, status="published",
            published_at=now, created_by=None, published_by=None,
        )  # fmt: skip
        for position, (section_title, items) in enumerate(sections, start=1):
            section = ChecklistSection.objects.create(template=template, order=position, title=section_title)
            for order, (item_code, question, item_basis, options) in enumerate(items, start=1):
                fields = {"answer_type": PF, "hazard_category": category, **options}
                key = fields.pop("clause", None)
                ChecklistItem.objects.create(
                    template=template, section=section, order=order, code=item_code, question=question,
                    basis=item_basis, clause=clauses.get(key) if key else None, **fields,
                )  # fmt: skip


def unseed(apps, schema_editor):
    ChecklistTemplate = apps.get_model("inspections", "ChecklistTemplate")
    ChecklistTemplate.objects.filter(code__in=CODES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("inspections", "0001_initial"),
        ("hazards", "0002_seed_catalogue"),
    ]
    operations = [migrations.RunPython(seed, unseed)]
