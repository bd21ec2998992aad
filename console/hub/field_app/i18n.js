// Every user-facing string of the field app, in one place so another language can be added
// by adding a dictionary (the app is Chinese-only for now).

const STRINGS = {
  zh_CN: {
    appTitle: "执法外勤",
    enrolTitle: "设备登记",
    enrolHint: "粘贴指挥中心发放的登记令牌，或扫描登记二维码打开本页。",
    tokenLabel: "登记令牌",
    enrolButton: "登记并登录",
    tokenMissing: "请先输入登记令牌。",
    tokenRejected: "令牌无效或已吊销：{reason}",
    logout: "退出登记",
    logoutConfirm: "退出后需要重新输入令牌，确定吗？",
    online: "在线",
    connecting: "连接中…",
    offline: "离线",
    queued: "待同步 {n} 条",
    synced: "已同步",
    tasks: "我的任务",
    noTasks: "暂无任务。新任务会自动推送并响铃提醒。",
    newTask: "新任务：{title}",
    back: "返回",
    deadline: "办结时限",
    address: "地址",
    category: "类别",
    urgency: "紧急程度",
    description: "情况描述",
    enterprise: "企业档案",
    industry: "行业",
    creditRating: "信用等级",
    outlets: "排污口",
    noEnterprise: "未关联企业",
    distance: "距现场约 {m} 米（签到范围 {r} 米）",
    noFix: "尚未获得定位",
    navigate: "导航",
    navAmap: "高德地图",
    navBaidu: "百度地图",
    actions: "处置",
    findings: "核查结论",
    findingsRequired: "请先填写核查结论。",
    "action.accept": "接收任务",
    "action.depart": "出发",
    "action.arrive": "到达签到",
    "action.verify_confirmed": "核实属实",
    "action.verify_unfounded": "核实不属实",
    "action.complete_procedure": "完成执法程序",
    pending: "（待同步）",
    checkinOk: "签到成功，距现场 {m} 米",
    checkinNeedsFix: "正在获取定位，请稍候再签到。",
    actionRejected: "操作未被接受：{detail}",
    "error.outside_geofence": "签到失败：不在现场签到范围内",
    "error.illegal_transition": "当前任务状态不允许此操作",
    "error.conflict": "任务已被指挥中心更新，请刷新",
    "error.unknown_task": "任务不存在或已改派",
    "error.forbidden": "无权操作此任务",
    "error.hash_mismatch": "附件校验失败，将重新上传",
    "state.assigned": "已派发",
    "state.delivered": "待接收",
    "state.accepted": "已接收",
    "state.en_route": "前往中",
    "state.on_site": "已到场",
    "state.verified_confirmed": "核实属实",
    "state.verified_unfounded": "核实不属实",
    "state.procedure_complete": "程序完成",
    "state.closed": "已办结",
    "state.archived": "已归档",
    "state.cancelled": "已撤销",
    "kind.verification": "核查",
    "kind.enforcement": "执法",
    "urgency.normal": "一般",
    "urgency.urgent": "紧急",
    "urgency.critical": "特急",
    report: "现场记录",
    notes: "记录内容",
    addPhoto: "拍照",
    recordVoice: "录音",
    stopVoice: "停止录音",
    voiceUnavailable: "此设备无法录音：{detail}",
    attachments: "附件 {n} 个",
    submitReport: "提交记录",
    reportEmpty: "请填写记录或添加附件。",
    reportQueued: "记录已保存，将自动上传。",
    reportSent: "记录已上传。",
    uploading: "上传中 {done}/{total}",
    insecure: "当前连接不安全（需 HTTPS），无法计算附件校验值。",
    taskCancelled: "任务已撤销：{title}",
  },
};

let language = "zh_CN";

export function setLanguage(code) {
  if (!(code in STRINGS)) throw new Error(`no strings for language ${code}`);
  language = code;
}

/** True when a string exists for `key` (error codes from the hub may be new). */
export function has(key) {
  return key in STRINGS[language] || key in STRINGS.zh_CN;
}

/** The string for `key` with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const text = STRINGS[language][key] ?? STRINGS.zh_CN[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}
