"""The campaign, proof-of-play and till pages' words in Russian and English: a typed message table, as
:mod:`backoffice.web.i18n` (every field filled in both languages, so a missing text is a type error and
an error at import). Templates read ``c.<field>``; texts with ``{placeholders}`` are filled with
``str.format``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from backoffice.web.i18n import Language


@dataclass(frozen=True, kw_only=True)
class CampaignWords:
    """Every text of the campaign, proof-of-play and till pages, in one language."""

    campaigns_title: str
    history_title: str
    proof_title: str
    till_title: str
    new_offer: str
    draft_offers: str
    dayparts: str
    preview: str
    preview_all: str
    preview_title: str
    preview_note: str
    edit: str
    delete: str
    delete_offer: str
    every_store: str
    all_day: str
    everyone: str
    fleet: str
    changes_since: str
    changes_first: str
    changes_against: str
    note_no_demographics: str
    note_approval_on: str
    note_approval_off: str
    publish_title: str
    publish: str
    request_approval: str
    latest_version: str
    nothing_published: str
    broker_down: str
    published: str
    requested: str
    unsent: str
    requests_pending: str
    requests_all: str
    no_pending: str
    approve: str
    reject: str
    reason: str
    waiting_for_other_admin: str
    waiting_for_admin: str
    save_daypart: str
    offer_title_new: str
    offer_title_edit: str
    offer_refused: str
    picture_needed: str
    fs_offer: str
    fs_schedule: str
    fs_where: str
    fs_moment: str
    f_offer_id: str
    h_offer_id: str
    f_kind: str
    kind_offer: str
    kind_help: str
    f_title_ru: str
    f_title_en: str
    f_body_ru: str
    f_body_en: str
    f_price: str
    f_picture: str
    h_picture: str
    current_picture: str
    f_valid_from: str
    f_valid_to: str
    h_no_dayparts: str
    f_hours: str
    h_hours: str
    f_stores: str
    h_stores: str
    f_zones: str
    h_zones: str
    h_moment: str
    f_valence: str
    h_valence: str
    valence_positive: str
    valence_neutral: str
    valence_negative: str
    f_min_attention_s: str
    f_min_dwell_s: str
    f_max_dwell_s: str
    f_crowd: str
    f_min_crowd: str
    f_max_crowd: str
    f_age_restricted: str
    h_age_restricted: str
    save_offer: str
    versions: str
    version_title: str
    version_offers: str
    version_note: str
    compare_with: str
    compare: str
    rollback_to: str
    h_rollback: str
    devices_versions: str
    releases: str
    state_current: str
    state_refused: str
    state_offline: str
    state_waiting: str
    state_no_release: str
    state_ahead: str
    chart_devices_by_state: str
    col_offer: str
    col_kind: str
    col_title: str
    col_stores: str
    col_dayparts: str
    col_valid: str
    col_targeting: str
    col_age_restricted: str
    col_updated_at: str
    col_updated_by: str
    col_name: str
    col_hours: str
    col_change: str
    col_item: str
    col_field: str
    col_before: str
    col_after: str
    col_request: str
    col_scope: str
    col_requested_by: str
    col_requested_at: str
    col_state: str
    col_decided_by: str
    col_decided_at: str
    col_version: str
    col_offers: str
    col_note: str
    col_published_at: str
    col_published_by: str
    col_approved_by: str
    col_rollback_of: str
    col_store: str
    col_device: str
    col_devices: str
    col_expected: str
    col_installed: str
    col_why: str
    col_online: str
    col_last_seen: str
    col_reported_at: str
    col_size_bytes: str
    col_issued_at: str
    col_sent: str
    col_sent_at: str
    col_problem: str
    proof_per_version: str
    proof_per_device: str
    proof_by_day: str
    proof_note: str
    chart_shown_per_version: str
    chart_seconds_per_version: str
    chart_watchers_per_version: str
    chart_shown_by_day: str
    col_shown: str
    col_shown_s: str
    col_shown_s_mean: str
    col_shown_to_visits: str
    col_watchers: str
    col_watcher_rate: str
    col_attention_s_mean: str
    col_tapped: str
    col_csat_n: str
    col_csat_mean: str
    col_csat_satisfied: str
    till_code: str
    till_redeem: str
    till_hint: str
    till_honour: str
    till_do_not_honour: str
    till_ok: str
    till_already_used: str
    till_expired: str
    till_other_store: str
    till_unknown_device: str
    till_unknown_offer: str
    till_mistyped: str
    till_malformed: str
    till_not_set_up: str
    till_recent: str
    chart_rewards: str
    reward_pending: str
    reward_rewarded: str
    reward_refused: str
    reward_gave_up: str
    col_redeemed_at: str
    col_code: str
    col_till: str
    col_redeemed_by: str
    col_expires: str
    col_reward: str
    col_reward_detail: str
    col_redemptions: str


#: English.
EN: Final = CampaignWords(
    campaigns_title="Campaigns",
    history_title="Version history",
    proof_title="Proof of play",
    till_title="Till: redeem a code",
    new_offer="New offer",
    draft_offers="Draft: offers",
    dayparts="Dayparts",
    preview="Preview",
    preview_all="all sizes",
    preview_title="Preview of {offer}",
    preview_note=(
        "Drawn on the server with the kiosk's own layout and fonts: text and picture land where a"
        " 1280×720 or 720×1280 kiosk screen shows them."
    ),
    edit="Edit",
    delete="Delete",
    delete_offer="Remove from the draft",
    every_store="every store",
    all_day="all day",
    everyone="anyone (no targeting)",
    fleet="the whole fleet",
    changes_since="Draft changes since version {version}",
    changes_first="Everything (nothing published before)",
    changes_against="Changes against version {version}",
    note_no_demographics=(
        "Offers are targeted by store, zone, daypart, dates and the moment of a visit the shopper"
        " consented to (attention, dwell, mood now); never by who the shopper is: age, gender, "
        "ethnicity, looks or any inferred trait are refused."
    ),
    note_approval_on="Publishing needs a second admin's approval: one account asks, another admin approves.",
    note_approval_off="Publishing takes effect at once (no second approval is required).",
    publish_title="Publish the draft",
    publish="Publish",
    request_approval="Ask for approval",
    latest_version="Live: version {version} to {scope}, published {when} by {by}.",
    nothing_published="Nothing published yet.",
    broker_down=(
        "The back office is not connected to the broker now: releases wait and are sent when it is back."
    ),
    published="Version {version} published to {scope}.",
    requested="Request {request} is waiting for a second admin's approval.",
    unsent="Not sent yet (the broker is not reachable) to: {stores}; sent again automatically.",
    requests_pending="Waiting for approval",
    requests_all="Publication requests",
    no_pending="Nothing is waiting for approval.",
    approve="Approve and publish",
    reject="Reject",
    reason="reason",
    waiting_for_other_admin="your request: another admin approves it",
    waiting_for_admin="waiting for an admin",
    save_daypart="Save daypart",
    offer_title_new="New offer",
    offer_title_edit="Offer {offer}",
    offer_refused="The offer was not saved:",
    picture_needed="upload a picture (PNG, JPEG or WebP)",
    fs_offer="Offer",
    fs_schedule="When",
    fs_where="Where",
    fs_moment="The moment of the visit (with the shopper's consent)",
    f_offer_id="Id",
    h_offer_id="a-z, 0-9, '-', '_'; it names the offer in reports and codes and cannot change",
    f_kind="Kind",
    kind_offer="offer",
    kind_help="help (shown to a frustrated shopper instead of an upsell)",
    f_title_ru="Title, Russian",
    f_title_en="Title, English",
    f_body_ru="Text, Russian",
    f_body_en="Text, English",
    f_price="Price as shown",
    f_picture="Picture",
    h_picture="PNG, JPEG or WebP; resized to fit the screen and the 4 MiB release",
    current_picture="Current picture: {width}×{height}, {size} bytes. Upload another to replace it.",
    f_valid_from="Valid from",
    f_valid_to="Valid to",
    h_no_dayparts="no dayparts yet: add them on the campaigns page",
    f_hours="Hours",
    h_hours="local time ranges, e.g. 07:00-11:00, 17:00-20:00; empty: any time",
    f_stores="Stores",
    h_stores="store ids, comma-separated; empty: every store",
    f_zones="Zones",
    h_zones="the screen's zone in the store ([device] zone); empty: every zone",
    h_moment=(
        "Momentary signals of this visit, read only as the store's consent mode allows and "
        "forgotten when the visit ends. Nothing about who the shopper is."
    ),
    f_valence="Mood now",
    h_valence="none ticked: any mood, unknown included",
    valence_positive="positive",
    valence_neutral="neutral",
    valence_negative="negative",
    f_min_attention_s="Attention so far, s ≥",
    f_min_dwell_s="Dwell so far, s ≥",
    f_max_dwell_s="Dwell so far, s ≤",
    f_crowd="people in view",
    f_min_crowd="People in view ≥",
    f_max_crowd="People in view ≤",
    f_age_restricted="Age-restricted product (alcohol, tobacco)",
    h_age_restricted=(
        "a legal flag on the product, never a guess about the shopper: never targeted by mood, "
        "never on the attract loop"
    ),
    save_offer="Save to the draft",
    versions="Versions",
    version_title="Version {version}",
    version_offers="Its offers",
    version_note="{kind} to {scope}, published by {by}; requested by {requested}, approved by {approved}.",
    compare_with="Compare with version",
    compare="Compare",
    rollback_to="Roll back to version {version}",
    h_rollback="publishes this version again as a new, signed version (and makes it the draft)",
    devices_versions="Devices: which version they run",
    releases="Releases sent to stores",
    state_current="up to date",
    state_refused="behind: refused",
    state_offline="behind: offline",
    state_waiting="behind: no answer yet",
    state_no_release="nothing published",
    state_ahead="ahead",
    chart_devices_by_state="Devices by state",
    col_offer="Offer",
    col_kind="Kind",
    col_title="Title",
    col_stores="Stores",
    col_dayparts="Dayparts",
    col_valid="Valid",
    col_targeting="Targeting",
    col_age_restricted="Age-restricted",
    col_updated_at="Changed",
    col_updated_by="Changed by",
    col_name="Name",
    col_hours="Hours",
    col_change="Change",
    col_item="What",
    col_field="Field",
    col_before="Before",
    col_after="After",
    col_request="Request",
    col_scope="To",
    col_requested_by="Asked by",
    col_requested_at="Asked",
    col_state="State",
    col_decided_by="Decided by",
    col_decided_at="Decided",
    col_version="Version",
    col_offers="Offers",
    col_note="Note",
    col_published_at="Published",
    col_published_by="Published by",
    col_approved_by="Approved by",
    col_rollback_of="Rollback to",
    col_store="Store",
    col_device="Device",
    col_devices="Devices",
    col_expected="Should run",
    col_installed="Runs",
    col_why="Why",
    col_online="Online",
    col_last_seen="Last seen",
    col_reported_at="Reported",
    col_size_bytes="Size, bytes",
    col_issued_at="Issued",
    col_sent="Sent",
    col_sent_at="Sent at",
    col_problem="Problem",
    proof_per_version="Per offer and version",
    proof_per_device="Per offer, version and device",
    proof_by_day="By day",
    proof_note=(
        "Showings and seconds on screen are counted for every showing; the audience figures "
        '(watchers, attention, taps, CSAT) are withheld as "< {k}" where the offer was shown to '
        "fewer than {k} visits."
    ),
    chart_shown_per_version="Showings per offer and version",
    chart_seconds_per_version="Seconds on screen per offer and version",
    chart_watchers_per_version="Watcher rate per offer and version",
    chart_shown_by_day="Showings by day",
    col_shown="Shown",
    col_shown_s="On screen, s",
    col_shown_s_mean="On screen, s (mean)",
    col_shown_to_visits="Shown to a visitor",
    col_watchers="Watchers",
    col_watcher_rate="Watcher rate",
    col_attention_s_mean="Attention, s (mean)",
    col_tapped="Tapped",
    col_csat_n="CSAT answers",
    col_csat_mean="CSAT (1-5)",
    col_csat_satisfied="Satisfied (4-5)",
    till_code="Code (type or scan)",
    till_redeem="Redeem",
    till_hint=(
        "Type the 16 characters from the screen (dashes, spaces and small letters are fine) or "
        "scan the QR code."
    ),
    till_honour="Give the offer",
    till_do_not_honour="Do not give the offer",
    till_ok="Valid: {offer}. Good through {expires}. Redeemed now.",
    till_already_used="Already used at {time} on {date} (store {store}, till {till}, by {by}).",
    till_expired="Expired: the code was good through {date}.",
    till_other_store="Not from this store: it was issued by a screen of store {store}.",
    till_unknown_device="Not one of our screens' codes: check the code against the screen.",
    till_unknown_offer="This code is for an offer we do not know: check the code, or the offer has ended.",
    till_mistyped=(
        "The code does not check out: probably a typing mistake. Type it again or scan the QR code."
    ),
    till_malformed="That is not a full code: a code has 16 letters and digits, like ABCD-EFGH-JKMN-PQRS.",
    till_not_set_up=(
        "Redemption is not set up on this back office (no redemption master key): ask the administrator."
    ),
    till_recent="Latest redemptions",
    chart_rewards="Rewards sent to the screens",
    reward_pending="screen not told yet",
    reward_rewarded="screen rewarded",
    reward_refused="screen did not know the code",
    reward_gave_up="given up",
    col_redeemed_at="Redeemed",
    col_code="Code",
    col_till="Till",
    col_redeemed_by="Cashier",
    col_expires="Good through",
    col_reward="Screen",
    col_reward_detail="Screen's answer",
    col_redemptions="Redemptions",
)


#: Russian.
RU: Final = CampaignWords(
    campaigns_title="Кампании",
    history_title="История версий",
    proof_title="Подтверждение показов",
    till_title="Касса: погашение кода",
    new_offer="Новое предложение",
    draft_offers="Черновик: предложения",
    dayparts="Части дня",
    preview="Предпросмотр",
    preview_all="все размеры",
    preview_title="Предпросмотр {offer}",
    preview_note=(
        "Нарисовано на сервере по той же раскладке и теми же шрифтами, что на киоске: текст и "
        "картинка там же, где на экране 1280×720 или 720×1280."
    ),
    edit="Изменить",
    delete="Удалить",
    delete_offer="Убрать из черновика",
    every_store="все магазины",
    all_day="весь день",
    everyone="все (без таргетинга)",
    fleet="вся сеть",
    changes_since="Изменения черновика после версии {version}",
    changes_first="Всё (ничего ещё не опубликовано)",
    changes_against="Изменения относительно версии {version}",
    note_no_demographics=(
        "Предложения нацеливаются по магазину, зоне, части дня, датам и моменту визита, на "
        "который покупатель дал согласие (внимание, время у экрана, настроение сейчас); никогда "
        "по тому, кто покупатель: возраст, пол, этническая принадлежность, внешность и любые "
        "выведенные черты запрещены."
    ),
    note_approval_on=(
        "Публикация требует одобрения второго администратора: одна учётная запись запрашивает, "
        "другой администратор одобряет."
    ),
    note_approval_off="Публикация действует сразу (второе одобрение не требуется).",
    publish_title="Опубликовать черновик",
    publish="Опубликовать",
    request_approval="Запросить одобрение",
    latest_version="Сейчас: версия {version} для «{scope}», опубликована {when}, {by}.",
    nothing_published="Ещё ничего не опубликовано.",
    broker_down=(
        "Бэк-офис сейчас не подключён к брокеру: выпуски ждут и будут отправлены, когда связь вернётся."
    ),
    published="Версия {version} опубликована для «{scope}».",
    requested="Запрос {request} ждёт одобрения второго администратора.",
    unsent="Ещё не отправлено (брокер недоступен): {stores}; будет отправлено автоматически.",
    requests_pending="Ждут одобрения",
    requests_all="Запросы на публикацию",
    no_pending="Одобрения ничего не ждёт.",
    approve="Одобрить и опубликовать",
    reject="Отклонить",
    reason="причина",
    waiting_for_other_admin="ваш запрос: одобряет другой администратор",
    waiting_for_admin="ждёт администратора",
    save_daypart="Сохранить часть дня",
    offer_title_new="Новое предложение",
    offer_title_edit="Предложение {offer}",
    offer_refused="Предложение не сохранено:",
    picture_needed="загрузите картинку (PNG, JPEG или WebP)",
    fs_offer="Предложение",
    fs_schedule="Когда",
    fs_where="Где",
    fs_moment="Момент визита (с согласия покупателя)",
    f_offer_id="Идентификатор",
    h_offer_id="a-z, 0-9, «-», «_»; называет предложение в отчётах и кодах и не меняется",
    f_kind="Вид",
    kind_offer="предложение",
    kind_help="помощь (показывается расстроенному покупателю вместо допродажи)",
    f_title_ru="Заголовок, русский",
    f_title_en="Заголовок, английский",
    f_body_ru="Текст, русский",
    f_body_en="Текст, английский",
    f_price="Цена, как показать",
    f_picture="Картинка",
    h_picture="PNG, JPEG или WebP; уменьшается под экран и под выпуск в 4 МиБ",
    current_picture="Текущая картинка: {width}×{height}, {size} байт. Загрузите другую, чтобы заменить.",
    f_valid_from="Действует с",
    f_valid_to="Действует по",
    h_no_dayparts="частей дня пока нет: добавьте их на странице кампаний",
    f_hours="Часы",
    h_hours="местное время, например 07:00-11:00, 17:00-20:00; пусто: в любое время",
    f_stores="Магазины",
    h_stores="идентификаторы магазинов через запятую; пусто: все магазины",
    f_zones="Зоны",
    h_zones="зона экрана в магазине ([device] zone); пусто: все зоны",
    h_moment=(
        "Мгновенные сигналы этого визита: считываются только так, как позволяет режим согласия "
        "магазина, и забываются с концом визита. Ничего о том, кто покупатель."
    ),
    f_valence="Настроение сейчас",
    h_valence="ничего не отмечено: любое настроение, включая неизвестное",
    valence_positive="позитивное",
    valence_neutral="нейтральное",
    valence_negative="негативное",
    f_min_attention_s="Внимание к экрану, с ≥",
    f_min_dwell_s="Время у экрана, с ≥",
    f_max_dwell_s="Время у экрана, с ≤",
    f_crowd="людей в кадре",
    f_min_crowd="Людей в кадре ≥",
    f_max_crowd="Людей в кадре ≤",
    f_age_restricted="Товар с возрастным ограничением (алкоголь, табак)",
    h_age_restricted=(
        "юридическая пометка товара, а не догадка о покупателе: никогда не нацеливается по "
        "настроению и не показывается в заставке"
    ),
    save_offer="Сохранить в черновик",
    versions="Версии",
    version_title="Версия {version}",
    version_offers="Её предложения",
    version_note="{kind} для «{scope}», опубликовал(а) {by}; запросил(а) {requested}, одобрил(а) {approved}.",
    compare_with="Сравнить с версией",
    compare="Сравнить",
    rollback_to="Откатить к версии {version}",
    h_rollback="публикует эту версию заново как новую подписанную версию (и делает её черновиком)",
    devices_versions="Устройства: какая версия у каждого",
    releases="Выпуски, отправленные магазинам",
    state_current="актуальна",
    state_refused="отстаёт: отказ",
    state_offline="отстаёт: не в сети",
    state_waiting="отстаёт: ответа ещё нет",
    state_no_release="ничего не опубликовано",
    state_ahead="впереди",
    chart_devices_by_state="Устройства по состоянию",
    col_offer="Предложение",
    col_kind="Вид",
    col_title="Заголовок",
    col_stores="Магазины",
    col_dayparts="Части дня",
    col_valid="Действует",
    col_targeting="Таргетинг",
    col_age_restricted="Возрастное ограничение",
    col_updated_at="Изменено",
    col_updated_by="Изменил(а)",
    col_name="Название",
    col_hours="Часы",
    col_change="Изменение",
    col_item="Что",
    col_field="Поле",
    col_before="Было",
    col_after="Стало",
    col_request="Запрос",
    col_scope="Для",
    col_requested_by="Запросил(а)",
    col_requested_at="Запрошено",
    col_state="Состояние",
    col_decided_by="Решил(а)",
    col_decided_at="Решено",
    col_version="Версия",
    col_offers="Предложений",
    col_note="Примечание",
    col_published_at="Опубликовано",
    col_published_by="Опубликовал(а)",
    col_approved_by="Одобрил(а)",
    col_rollback_of="Откат к",
    col_store="Магазин",
    col_device="Устройство",
    col_devices="Устройств",
    col_expected="Должна быть",
    col_installed="Стоит",
    col_why="Почему",
    col_online="В сети",
    col_last_seen="Последний раз",
    col_reported_at="Сообщено",
    col_size_bytes="Размер, байт",
    col_issued_at="Выпущено",
    col_sent="Отправлено",
    col_sent_at="Когда отправлено",
    col_problem="Проблема",
    proof_per_version="По предложениям и версиям",
    proof_per_device="По предложениям, версиям и устройствам",
    proof_by_day="По дням",
    proof_note=(
        "Показы и секунды на экране считаются для каждого показа; показатели аудитории "
        "(смотревшие, внимание, нажатия, CSAT) скрыты как «< {k}», если предложение видели меньше"
        " {k} визитов."
    ),
    chart_shown_per_version="Показы по предложениям и версиям",
    chart_seconds_per_version="Секунды на экране по предложениям и версиям",
    chart_watchers_per_version="Доля смотревших по предложениям и версиям",
    chart_shown_by_day="Показы по дням",
    col_shown="Показано",
    col_shown_s="На экране, с",
    col_shown_s_mean="На экране, с (средн.)",
    col_shown_to_visits="Показано посетителю",
    col_watchers="Смотревшие",
    col_watcher_rate="Доля смотревших",
    col_attention_s_mean="Внимание, с (средн.)",
    col_tapped="Нажато",
    col_csat_n="Ответы CSAT",
    col_csat_mean="CSAT (1-5)",
    col_csat_satisfied="Довольны (4-5)",
    till_code="Код (ввести или отсканировать)",
    till_redeem="Погасить",
    till_hint=(
        "Введите 16 знаков с экрана (дефисы, пробелы и строчные буквы не мешают) или отсканируйте QR-код."
    ),
    till_honour="Выдать по предложению",
    till_do_not_honour="Не выдавать",
    till_ok="Действителен: {offer}. Годен до {expires}. Погашен сейчас.",
    till_already_used="Уже использован в {time} {date} (магазин {store}, касса {till}, кассир {by}).",
    till_expired="Срок истёк: код действовал до {date}.",
    till_other_store="Код не из этого магазина: его выдал экран магазина {store}.",
    till_unknown_device="Этот код выдан не нашими экранами: сверьте код с экраном.",
    till_unknown_offer="Код для неизвестного предложения: проверьте код, или предложение закончилось.",
    till_mistyped="Код не сходится: вероятно, опечатка. Введите его ещё раз или отсканируйте QR-код.",
    till_malformed="Это не полный код: в коде 16 букв и цифр, например ABCD-EFGH-JKMN-PQRS.",
    till_not_set_up=(
        "Погашение не настроено в этом бэк-офисе (нет мастер-ключа погашения): обратитесь к администратору."
    ),
    till_recent="Последние погашения",
    chart_rewards="Награды, отправленные экранам",
    reward_pending="экран ещё не уведомлён",
    reward_rewarded="экран получил награду",
    reward_refused="экран не знает этот код",
    reward_gave_up="отправка прекращена",
    col_redeemed_at="Погашен",
    col_code="Код",
    col_till="Касса",
    col_redeemed_by="Кассир",
    col_expires="Годен до",
    col_reward="Экран",
    col_reward_detail="Ответ экрана",
    col_redemptions="Погашения",
)


def campaign_words_for(language: Language) -> CampaignWords:
    """The words of ``language``."""
    return RU if language == "ru" else EN
