"""The back office's words in Russian and English: a typed message table.

:class:`Words` has one field per text the pages show; :data:`RU` and :data:`EN` fill every field, so a text
missing in one language is a type error (mypy) and an error at import, never a blank on a page. Templates
read ``t.<field>``; texts with ``{placeholders}`` are filled with ``str.format`` by the code or template
that shows them. The user picks the language (``/lang/ru``, ``/lang/en``); it is kept in the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Language = Literal["ru", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("ru", "en")


@dataclass(frozen=True, kw_only=True)
class Words:
    """Every text of the pages, in one language."""

    app_name: str
    nav_fleet: str
    nav_audience: str
    nav_offers: str
    nav_feedback: str
    nav_staff: str
    #: The chat's operator console and KPI page (their own words: backoffice.web.i18n_chat).
    nav_console: str
    nav_chat: str
    nav_audit: str
    nav_users: str
    nav_definitions: str
    nav_campaigns: str
    nav_proof: str
    nav_till: str
    definitions: str
    sign_out: str
    role_viewer: str
    role_operator: str
    role_marketer: str
    role_admin: str
    footer_retention: str
    footer_k: str
    login_title: str
    login_username: str
    login_password: str
    login_submit: str
    login_wrong: str
    login_too_many: str
    back_to_fleet: str
    filter_store: str
    filter_device: str
    filter_from: str
    filter_to: str
    filter_all: str
    filter_apply: str
    filter_actor: str
    filter_action: str
    table_empty: str
    table_truncated: str
    table_pager: str
    pager_previous: str
    pager_next: str
    chart_empty: str
    note_k: str
    note_arms: str
    fleet_title: str
    fleet_devices: str
    fleet_alerts: str
    fleet_note_live: str
    fleet_note_no_live: str
    status_online: str
    status_not_online: str
    alert_offline: str
    alert_camera_lost: str
    alert_clock_drift: str
    alert_outbox_growing: str
    chart_fleet_status: str
    chart_fps: str
    chart_outbox: str
    device_title: str
    device_now: str
    device_hours: str
    chart_device_health: str
    chart_device_audience: str
    col_store: str
    col_device: str
    col_devices: str
    col_status: str
    col_online: str
    col_lifecycle: str
    col_lifecycle_at: str
    col_lifecycle_reason: str
    col_status_at: str
    col_last_seen: str
    col_software: str
    col_models: str
    col_privacy_mode: str
    col_fps: str
    col_inference_ms: str
    col_dropped_frames: str
    col_camera_ok: str
    col_outbox_depth: str
    col_outbox_bytes: str
    col_clock_drift_s: str
    col_alerts: str
    col_alert_kind: str
    col_alert: str
    col_since: str
    col_value: str
    col_threshold: str
    col_field: str
    col_hour: str
    col_day: str
    col_health_samples: str
    col_camera_lost_samples: str
    col_metrics_samples: str
    col_outbox_depth_max: str
    col_outbox_depth_mean: str
    col_visits: str
    col_visits_read: str
    col_watchers: str
    col_glances: str
    col_watcher_rate: str
    col_dwell_s_mean: str
    col_attention_s_mean: str
    col_dwell_s_total: str
    col_attention_s_total: str
    col_valence_s: str
    col_negative_share: str
    col_neutral_share: str
    col_positive_share: str
    col_frustrated: str
    col_frustrated_per_100: str
    col_offer: str
    col_offers_shown: str
    col_shown: str
    col_shown_to_visits: str
    col_ended: str
    col_attended: str
    col_tapped: str
    col_redeemed: str
    col_attended_rate: str
    col_tap_rate: str
    col_redemption_rate: str
    col_shown_s_mean: str
    col_arm: str
    col_events: str
    col_pairs: str
    col_before_positive: str
    col_during_positive: str
    col_positive_uplift: str
    col_before_negative: str
    col_during_negative: str
    col_negative_uplift: str
    col_frustrated_after: str
    col_frustrated_per_100_showings: str
    col_share_of_frustrated: str
    col_csat_responses: str
    col_csat_mean: str
    col_csat_satisfied: str
    col_nps_responses: str
    col_promoters: str
    col_passives: str
    col_detractors: str
    col_nps: str
    col_score: str
    col_answers: str
    col_call: str
    col_zone: str
    col_reason: str
    col_state: str
    col_raised_at: str
    col_waiting_s: str
    col_escalated_at: str
    col_acknowledged_at: str
    col_acknowledged_by: str
    col_resolved_at: str
    col_resolved_by: str
    col_device_ack_at: str
    col_kiosk_answer: str
    col_raised: str
    col_raised_frustration: str
    col_raised_request: str
    col_acknowledged: str
    col_resolved: str
    col_escalated: str
    col_device_acks: str
    col_ack_mean_s: str
    col_ack_within_60s: str
    col_ack_over_300s: str
    col_resolve_mean_s: str
    col_at: str
    col_actor: str
    col_action: str
    col_target: str
    col_address: str
    col_detail: str
    col_entries: str
    col_username: str
    col_role: str
    col_disabled: str
    col_created_at: str
    col_users: str
    audience_title: str
    audience_total: str
    audience_by_hour: str
    audience_by_day: str
    frustration_total: str
    frustration_by_day: str
    frustration_by_hour: str
    chart_visits_by_hour: str
    chart_time_by_hour: str
    chart_valence_by_hour: str
    chart_visits_by_day: str
    chart_valence_by_day: str
    chart_frustration_by_day: str
    offers_title: str
    offers_funnel: str
    offers_per_offer: str
    offers_per_arm: str
    offers_mood: str
    offers_frustration: str
    chart_funnel: str
    chart_conversion: str
    chart_mood: str
    chart_frustration_offers: str
    feedback_title: str
    feedback_total: str
    feedback_by_day: str
    feedback_distribution: str
    chart_csat: str
    chart_nps: str
    staff_title: str
    staff_live: str
    staff_calls: str
    staff_none: str
    staff_ack: str
    staff_resolve: str
    staff_escalated: str
    staff_screen_told: str
    staff_already: str
    staff_not_told: str
    staff_note_escalation: str
    staff_kpi_total: str
    staff_kpi_per_store: str
    staff_kpi_by_hour: str
    chart_ack_by_hour: str
    chart_calls_by_hour: str
    chart_ack_by_store: str
    state_open: str
    state_acknowledged: str
    state_resolved: str
    reason_negative_valence: str
    reason_shopper_request: str
    audit_title: str
    audit_entries: str
    chart_audit_actions: str
    users_title: str
    users_accounts: str
    users_add: str
    users_add_submit: str
    users_change: str
    users_set_role: str
    users_disable: str
    users_enable: str
    users_set_password: str
    users_last_admin: str
    chart_roles: str


#: English.
EN: Final = Words(
    app_name="Vitrina back office",
    nav_fleet="Fleet",
    nav_audience="Audience",
    nav_offers="Offers",
    nav_feedback="Feedback",
    nav_staff="Staff calls",
    nav_console="Chat console",
    nav_chat="Chat KPIs",
    nav_audit="Audit",
    nav_users="Users",
    nav_definitions="Definitions",
    nav_campaigns="Campaigns",
    nav_proof="Proof of play",
    nav_till="Till",
    definitions="Definitions",
    sign_out="Sign out",
    role_viewer="viewer",
    role_operator="operator",
    role_marketer="marketer",
    role_admin="admin",
    footer_retention="Raw events are deleted after {days} days; hourly rollups stay",
    footer_k='cells of fewer than {k} visits are shown as "< {k}"',
    login_title="Sign in",
    login_username="User name",
    login_password="Password",
    login_submit="Sign in",
    login_wrong="Wrong user name or password.",
    login_too_many="Too many failed attempts: try again in {minutes} min.",
    back_to_fleet="Back to the fleet",
    filter_store="Store",
    filter_device="Device",
    filter_from="From",
    filter_to="To",
    filter_all="all",
    filter_apply="Show",
    filter_actor="Who",
    filter_action="Action",
    table_empty="No data for these filters.",
    table_truncated="{rows} more rows are in the CSV and JSON.",
    table_pager="Rows {first}-{last} of {total} (CSV and JSON: all).",
    pager_previous="Previous",
    pager_next="Next",
    chart_empty="Nothing to draw for these filters.",
    note_k='Cells built from fewer than {k} visits are withheld and shown as "< {k}" (k-anonymity).',
    note_arms=(
        "A redemption counts under the arm of the tap that issued its code; frustration carries no bandit "
        "arm, so it is per offer only."
    ),
    fleet_title="Fleet",
    fleet_devices="Devices",
    fleet_alerts="Alerts",
    fleet_note_live="Online status comes live from the broker's retained status.",
    fleet_note_no_live=(
        "The back office is not connected to the broker now: online status is the store's last known."
    ),
    status_online="online",
    status_not_online="not online",
    alert_offline="offline",
    alert_camera_lost="camera lost",
    alert_clock_drift="clock drift",
    alert_outbox_growing="outbox growing",
    chart_fleet_status="Devices and alerts",
    chart_fps="Frames a second",
    chart_outbox="Outbox backlog (events)",
    device_title="Device",
    device_now="Now",
    device_hours="By hour",
    chart_device_health="Health by hour",
    chart_device_audience="Visits by hour",
    col_store="Store",
    col_device="Device",
    col_devices="Devices",
    col_status="Status",
    col_online="Online",
    col_lifecycle="In the fleet",
    col_lifecycle_at="Since",
    col_lifecycle_reason="Why",
    col_status_at="Status since",
    col_last_seen="Last seen",
    col_software="Software",
    col_models="Models",
    col_privacy_mode="Consent mode",
    col_fps="fps",
    col_inference_ms="Inference, ms",
    col_dropped_frames="Dropped frames",
    col_camera_ok="Camera",
    col_outbox_depth="Outbox",
    col_outbox_bytes="Outbox, bytes",
    col_clock_drift_s="Clock drift, s",
    col_alerts="Alerts",
    col_alert_kind="Kind",
    col_alert="Alert",
    col_since="Since",
    col_value="Value",
    col_threshold="Threshold",
    col_field="Field",
    col_hour="Hour",
    col_day="Day",
    col_health_samples="Health reports",
    col_camera_lost_samples="Camera lost reports",
    col_metrics_samples="Metrics reports",
    col_outbox_depth_max="Outbox, max",
    col_outbox_depth_mean="Outbox, mean",
    col_visits="Visits (OTS)",
    col_visits_read="Visits with expression read",
    col_watchers="Watchers",
    col_glances="Glances",
    col_watcher_rate="Watcher rate",
    col_dwell_s_mean="Dwell, s (mean)",
    col_attention_s_mean="Attention, s (mean)",
    col_dwell_s_total="Dwell, s (total)",
    col_attention_s_total="Attention, s (total)",
    col_valence_s="Valence read, s",
    col_negative_share="Negative",
    col_neutral_share="Neutral",
    col_positive_share="Positive",
    col_frustrated="Frustrated visits",
    col_frustrated_per_100="Frustrated per 100 visits read",
    col_offer="Offer",
    col_offers_shown="Offers shown",
    col_shown="Shown",
    col_shown_to_visits="Shown to a visitor",
    col_ended="Ended",
    col_attended="Attended",
    col_tapped="Tapped",
    col_redeemed="Redeemed",
    col_attended_rate="Attended rate",
    col_tap_rate="Tap rate",
    col_redemption_rate="Redemption rate",
    col_shown_s_mean="On screen, s (mean)",
    col_arm="Bandit arm",
    col_events="Events",
    col_pairs="Paired showings",
    col_before_positive="Positive before",
    col_during_positive="Positive while shown",
    col_positive_uplift="Positive uplift",
    col_before_negative="Negative before",
    col_during_negative="Negative while shown",
    col_negative_uplift="Negative uplift",
    col_frustrated_after="Frustrated after it",
    col_frustrated_per_100_showings="Frustrated per 100 showings",
    col_share_of_frustrated="Share of frustrated visits",
    col_csat_responses="CSAT answers",
    col_csat_mean="CSAT (1-5)",
    col_csat_satisfied="Satisfied (4-5)",
    col_nps_responses="NPS answers",
    col_promoters="Promoters",
    col_passives="Passives",
    col_detractors="Detractors",
    col_nps="NPS",
    col_score="Score",
    col_answers="Answers",
    col_call="Call",
    col_zone="Zone",
    col_reason="Reason",
    col_state="State",
    col_raised_at="Raised",
    col_waiting_s="Waited, s",
    col_escalated_at="Escalated",
    col_acknowledged_at="Acknowledged",
    col_acknowledged_by="Acknowledged by",
    col_resolved_at="Resolved",
    col_resolved_by="Resolved by",
    col_device_ack_at="Screen told",
    col_kiosk_answer="Screen",
    col_raised="Raised",
    col_raised_frustration="Raised by frustration",
    col_raised_request="Raised by a tap",
    col_acknowledged="Acknowledged",
    col_resolved="Resolved",
    col_escalated="Escalated",
    col_device_acks="Screens told",
    col_ack_mean_s="Time to acknowledge, s",
    col_ack_within_60s="Acknowledged within 60 s",
    col_ack_over_300s="Acknowledged after 300 s",
    col_resolve_mean_s="Time to resolve, s",
    col_at="When",
    col_actor="Who",
    col_action="Action",
    col_target="What",
    col_address="Address",
    col_detail="Detail",
    col_entries="Entries",
    col_username="User",
    col_role="Role",
    col_disabled="Disabled",
    col_created_at="Created",
    col_users="Users",
    audience_title="Audience",
    audience_total="Over the range",
    audience_by_hour="By hour",
    audience_by_day="By day",
    frustration_total="Frustration over the range",
    frustration_by_day="Frustration by day",
    frustration_by_hour="Frustration by hour",
    chart_visits_by_hour="Visits and watchers by hour",
    chart_time_by_hour="Dwell and attention by hour (s)",
    chart_valence_by_hour="Valence mix by hour",
    chart_visits_by_day="Visits and watchers by day",
    chart_valence_by_day="Valence mix by day",
    chart_frustration_by_day="Frustrated per 100 visits read, by day",
    offers_title="Offers",
    offers_funnel="Funnel: shown, attended, tapped, redeemed",
    offers_per_offer="Conversion per offer",
    offers_per_arm="Conversion per bandit arm",
    offers_mood="Mood uplift: valence while shown against before",
    offers_frustration="Which offers frustration follows",
    chart_funnel="Funnel",
    chart_conversion="Conversion per offer",
    chart_mood="Positive share before and while shown",
    chart_frustration_offers="Frustrated per 100 showings",
    feedback_title="Feedback: CSAT and NPS",
    feedback_total="Over the range",
    feedback_by_day="By day",
    feedback_distribution="CSAT answers by score",
    chart_csat="CSAT by day",
    chart_nps="NPS by day",
    staff_title="Staff calls",
    staff_live="Calls now",
    staff_calls="Calls",
    staff_none="No open calls.",
    staff_ack="Acknowledge",
    staff_resolve="Resolve",
    staff_escalated="escalated",
    staff_screen_told="told the shopper",
    staff_already="Already {state} by {who}.",
    staff_not_told="Acknowledged here, but the screen could not be told now (no broker connection).",
    staff_note_escalation="A call unacknowledged for {seconds} s escalates.",
    staff_kpi_total="KPIs over the range",
    staff_kpi_per_store="KPIs per store",
    staff_kpi_by_hour="KPIs by hour",
    chart_ack_by_hour="Time to acknowledge and resolve by hour (s)",
    chart_calls_by_hour="Calls by hour",
    chart_ack_by_store="Time to acknowledge by store (s)",
    state_open="open",
    state_acknowledged="acknowledged",
    state_resolved="resolved",
    reason_negative_valence="frustration",
    reason_shopper_request="shopper asked",
    audit_title="Audit",
    audit_entries="Entries",
    chart_audit_actions="Entries by action",
    users_title="Users",
    users_accounts="Accounts",
    users_add="Add a user",
    users_add_submit="Add",
    users_change="Change",
    users_set_role="Set role",
    users_disable="Disable",
    users_enable="Enable",
    users_set_password="Set password",
    users_last_admin="The last enabled admin cannot be demoted or disabled: make another admin first.",
    chart_roles="Users by role",
)

#: Russian.
RU: Final = Words(
    app_name="Витрина: бэк-офис",
    nav_fleet="Устройства",
    nav_audience="Аудитория",
    nav_offers="Предложения",
    nav_feedback="Отзывы",
    nav_staff="Вызовы персонала",
    nav_console="Чат с покупателями",
    nav_chat="Показатели чата",
    nav_audit="Журнал",
    nav_users="Пользователи",
    nav_definitions="Определения",
    nav_campaigns="Кампании",
    nav_proof="Подтверждение показов",
    nav_till="Касса",
    definitions="Определения",
    sign_out="Выйти",
    role_viewer="наблюдатель",
    role_operator="оператор",
    role_marketer="маркетолог",
    role_admin="администратор",
    footer_retention="Исходные события удаляются через {days} дн.; почасовые сводки сохраняются",
    footer_k="ячейки менее чем из {k} визитов показаны как «< {k}»",
    login_title="Вход",
    login_username="Имя пользователя",
    login_password="Пароль",
    login_submit="Войти",
    login_wrong="Неверное имя пользователя или пароль.",
    login_too_many="Слишком много неудачных попыток: повторите через {minutes} мин.",
    back_to_fleet="К списку устройств",
    filter_store="Магазин",
    filter_device="Устройство",
    filter_from="С",
    filter_to="По",
    filter_all="все",
    filter_apply="Показать",
    filter_actor="Кто",
    filter_action="Действие",
    table_empty="Нет данных для этих фильтров.",
    table_truncated="Ещё {rows} строк — в CSV и JSON.",
    table_pager="Строки {first}–{last} из {total} (в CSV и JSON — все).",
    pager_previous="Назад",
    pager_next="Дальше",
    chart_empty="Для этих фильтров рисовать нечего.",
    note_k="Ячейки менее чем из {k} визитов скрыты и показаны как «< {k}» (k-анонимность).",
    note_arms=(
        "Погашение засчитывается «руке» бандита, нажатие которой выдало код; фрустрация «руки» не несёт, "
        "поэтому она только по предложениям."
    ),
    fleet_title="Устройства",
    fleet_devices="Устройства",
    fleet_alerts="Тревоги",
    fleet_note_live="Статус «в сети» приходит напрямую из сохранённого статуса брокера.",
    fleet_note_no_live="Бэк-офис сейчас не подключён к брокеру: статус — последний известный из базы.",
    status_online="в сети",
    status_not_online="не в сети",
    alert_offline="не в сети",
    alert_camera_lost="камера потеряна",
    alert_clock_drift="расхождение часов",
    alert_outbox_growing="очередь отправки растёт",
    chart_fleet_status="Устройства и тревоги",
    chart_fps="Кадров в секунду",
    chart_outbox="Очередь отправки (событий)",
    device_title="Устройство",
    device_now="Сейчас",
    device_hours="По часам",
    chart_device_health="Состояние по часам",
    chart_device_audience="Визиты по часам",
    col_store="Магазин",
    col_device="Устройство",
    col_devices="Устройства",
    col_status="Статус",
    col_online="В сети",
    col_lifecycle="В парке",
    col_lifecycle_at="С какого времени",
    col_lifecycle_reason="Причина",
    col_status_at="Статус с",
    col_last_seen="Последний раз",
    col_software="ПО",
    col_models="Модели",
    col_privacy_mode="Режим согласия",
    col_fps="кадр/с",
    col_inference_ms="Распознавание, мс",
    col_dropped_frames="Пропущено кадров",
    col_camera_ok="Камера",
    col_outbox_depth="Очередь",
    col_outbox_bytes="Очередь, байт",
    col_clock_drift_s="Расхождение часов, с",
    col_alerts="Тревоги",
    col_alert_kind="Вид",
    col_alert="Тревога",
    col_since="С",
    col_value="Значение",
    col_threshold="Порог",
    col_field="Поле",
    col_hour="Час",
    col_day="День",
    col_health_samples="Отчёты о состоянии",
    col_camera_lost_samples="Отчёты о потере камеры",
    col_metrics_samples="Отчёты метрик",
    col_outbox_depth_max="Очередь, макс.",
    col_outbox_depth_mean="Очередь, средн.",
    col_visits="Визиты (OTS)",
    col_visits_read="Визиты со считанной эмоцией",
    col_watchers="Смотревшие",
    col_glances="Взгляды",
    col_watcher_rate="Доля смотревших",
    col_dwell_s_mean="Время у экрана, с (средн.)",
    col_attention_s_mean="Внимание, с (средн.)",
    col_dwell_s_total="Время у экрана, с (всего)",
    col_attention_s_total="Внимание, с (всего)",
    col_valence_s="Эмоция считана, с",
    col_negative_share="Негатив",
    col_neutral_share="Нейтрально",
    col_positive_share="Позитив",
    col_frustrated="Визиты с фрустрацией",
    col_frustrated_per_100="Фрустрация на 100 визитов со считанной эмоцией",
    col_offer="Предложение",
    col_offers_shown="Показано предложений",
    col_shown="Показано",
    col_shown_to_visits="Показано посетителю",
    col_ended="Завершено",
    col_attended="Замечено",
    col_tapped="Нажато",
    col_redeemed="Погашено",
    col_attended_rate="Доля замеченных",
    col_tap_rate="Доля нажатий",
    col_redemption_rate="Доля погашений",
    col_shown_s_mean="На экране, с (средн.)",
    col_arm="Рука бандита",
    col_events="События",
    col_pairs="Парные показы",
    col_before_positive="Позитив до",
    col_during_positive="Позитив во время показа",
    col_positive_uplift="Прирост позитива",
    col_before_negative="Негатив до",
    col_during_negative="Негатив во время показа",
    col_negative_uplift="Прирост негатива",
    col_frustrated_after="Фрустрация после него",
    col_frustrated_per_100_showings="Фрустрация на 100 показов",
    col_share_of_frustrated="Доля визитов с фрустрацией",
    col_csat_responses="Ответы CSAT",
    col_csat_mean="CSAT (1-5)",
    col_csat_satisfied="Довольны (4-5)",
    col_nps_responses="Ответы NPS",
    col_promoters="Промоутеры",
    col_passives="Нейтралы",
    col_detractors="Критики",
    col_nps="NPS",
    col_score="Оценка",
    col_answers="Ответы",
    col_call="Вызов",
    col_zone="Зона",
    col_reason="Причина",
    col_state="Состояние",
    col_raised_at="Поступил",
    col_waiting_s="Ожидание, с",
    col_escalated_at="Эскалирован",
    col_acknowledged_at="Принят",
    col_acknowledged_by="Принял",
    col_resolved_at="Закрыт",
    col_resolved_by="Закрыл",
    col_device_ack_at="Экран уведомлён",
    col_kiosk_answer="Экран",
    col_raised="Поступило",
    col_raised_frustration="По фрустрации",
    col_raised_request="По нажатию",
    col_acknowledged="Принято",
    col_resolved="Закрыто",
    col_escalated="Эскалировано",
    col_device_acks="Экраны уведомлены",
    col_ack_mean_s="Время до принятия, с",
    col_ack_within_60s="Принято за 60 с",
    col_ack_over_300s="Принято позже 300 с",
    col_resolve_mean_s="Время до закрытия, с",
    col_at="Когда",
    col_actor="Кто",
    col_action="Действие",
    col_target="Что",
    col_address="Адрес",
    col_detail="Подробности",
    col_entries="Записи",
    col_username="Пользователь",
    col_role="Роль",
    col_disabled="Отключён",
    col_created_at="Создан",
    col_users="Пользователи",
    audience_title="Аудитория",
    audience_total="За период",
    audience_by_hour="По часам",
    audience_by_day="По дням",
    frustration_total="Фрустрация за период",
    frustration_by_day="Фрустрация по дням",
    frustration_by_hour="Фрустрация по часам",
    chart_visits_by_hour="Визиты и смотревшие по часам",
    chart_time_by_hour="Время у экрана и внимание по часам (с)",
    chart_valence_by_hour="Эмоции по часам",
    chart_visits_by_day="Визиты и смотревшие по дням",
    chart_valence_by_day="Эмоции по дням",
    chart_frustration_by_day="Фрустрация на 100 визитов со считанной эмоцией, по дням",
    offers_title="Предложения",
    offers_funnel="Воронка: показано, замечено, нажато, погашено",
    offers_per_offer="Конверсия по предложениям",
    offers_per_arm="Конверсия по рукам бандита",
    offers_mood="Прирост настроения: эмоции во время показа против до",
    offers_frustration="После каких предложений наступает фрустрация",
    chart_funnel="Воронка",
    chart_conversion="Конверсия по предложениям",
    chart_mood="Доля позитива до и во время показа",
    chart_frustration_offers="Фрустрация на 100 показов",
    feedback_title="Отзывы: CSAT и NPS",
    feedback_total="За период",
    feedback_by_day="По дням",
    feedback_distribution="Ответы CSAT по оценкам",
    chart_csat="CSAT по дням",
    chart_nps="NPS по дням",
    staff_title="Вызовы персонала",
    staff_live="Текущие вызовы",
    staff_calls="Вызовы",
    staff_none="Открытых вызовов нет.",
    staff_ack="Принять",
    staff_resolve="Закрыть",
    staff_escalated="эскалирован",
    staff_screen_told="покупатель уведомлён",
    staff_already="Уже {state}: {who}.",
    staff_not_told="Принято здесь, но экран сейчас не уведомлён (нет связи с брокером).",
    staff_note_escalation="Вызов, не принятый за {seconds} с, эскалируется.",
    staff_kpi_total="Показатели за период",
    staff_kpi_per_store="Показатели по магазинам",
    staff_kpi_by_hour="Показатели по часам",
    chart_ack_by_hour="Время до принятия и закрытия по часам (с)",
    chart_calls_by_hour="Вызовы по часам",
    chart_ack_by_store="Время до принятия по магазинам (с)",
    state_open="открыт",
    state_acknowledged="принят",
    state_resolved="закрыт",
    reason_negative_valence="фрустрация",
    reason_shopper_request="просьба покупателя",
    audit_title="Журнал действий",
    audit_entries="Записи",
    chart_audit_actions="Записи по действиям",
    users_title="Пользователи",
    users_accounts="Учётные записи",
    users_add="Добавить пользователя",
    users_add_submit="Добавить",
    users_change="Изменить",
    users_set_role="Назначить роль",
    users_disable="Отключить",
    users_enable="Включить",
    users_set_password="Сменить пароль",
    users_last_admin=(
        "Последнего включённого администратора нельзя понизить или отключить: сначала назначьте другого."
    ),
    chart_roles="Пользователи по ролям",
)


def words_for(language: Language) -> Words:
    """The words of ``language``."""
    return RU if language == "ru" else EN
