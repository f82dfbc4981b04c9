"""The operator console's and the chat KPI page's words in Russian and English: a typed message table like
:mod:`backoffice.web.i18n` (one frozen dataclass, every field filled in both languages, so a missing text
is a type error and an import error). Templates read ``c.<field>``; the navigation's two labels are in
:class:`backoffice.web.i18n.Words` with the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from backoffice.web.i18n import Language


@dataclass(frozen=True, kw_only=True)
class ChatWords:
    """Every text of the console and the chat KPI page, in one language."""

    console_title: str
    console_note: str
    console_live: str
    console_none: str
    display_name: str
    display_name_hint: str
    badge_title: str
    state_bot: str
    state_waiting: str
    state_open: str
    state_resolved: str
    state_ended: str
    reason_button: str
    reason_words: str
    reason_repeated_declines: str
    reason_frustrated: str
    reason_negative_valence: str
    unanswered_timeout: str
    unanswered_off_duty: str
    end_done: str
    end_visit_ended: str
    end_timeout: str
    end_resolved: str
    end_maintenance: str
    waiting_for: str
    taken_by: str
    handed_back_by: str
    resolved_by: str
    who_shopper: str
    who_bot: str
    who_system: str
    line_chat_opened: str
    line_handoff: str
    line_unanswered: str
    line_ended: str
    line_csat: str
    line_accept: str
    line_hand_back: str
    line_resolve: str
    bot_answer: str
    bot_clarify: str
    bot_decline: str
    bot_handoff: str
    status_sending: str
    status_sent: str
    status_not_sent: str
    status_shown: str
    status_duplicate: str
    status_refused: str
    guesses: str
    guesses_none: str
    accept: str
    reply_placeholder: str
    send: str
    hand_back: str
    resolve: str
    already_accepted: str
    already_finished: str
    not_yours: str
    not_open: str
    not_connected: str
    not_told: str
    unsigned: str
    transcript_deleted: str
    kpi_title: str
    kpi_total: str
    kpi_by_day: str
    kpi_by_hour: str
    kpi_per_store: str
    kpi_reasons: str
    kpi_unanswered: str
    kpi_csat_distribution: str
    kpi_note_unanswered: str
    kpi_note_k: str
    col_conversations: str
    col_finished: str
    col_contained: str
    col_containment_rate: str
    col_handed_off: str
    col_handoff_rate: str
    col_unanswered_timeout: str
    col_unanswered_off_duty: str
    col_declined: str
    col_accepted: str
    col_accept_mean_s: str
    col_first_replies: str
    col_first_reply_mean_s: str
    col_first_reply_within_60s: str
    col_resolved: str
    col_resolution_mean_s: str
    col_handed_back: str
    col_csat_responses: str
    col_csat_mean: str
    col_csat_satisfied: str
    col_reason: str
    col_share_of_handoffs: str
    col_question: str
    col_lang: str
    col_asked: str
    col_last_asked: str
    col_guesses: str
    col_score: str
    col_answers: str
    chart_conversations_by_day: str
    chart_times_by_day: str
    chart_reasons: str
    chart_csat: str


EN: Final = ChatWords(
    console_title="Chat console",
    console_note=(
        "Chats the kiosks hand to a person. Accept one to join it: the shopper's screen says a person has "
        "joined and shows your name as typed below; the bot stays silent until you hand it back. Shoppers' "
        "texts are masked on the kiosk; transcripts are deleted after the retention period."
    ),
    console_live="Conversations now",
    console_none="No chat is waiting for a person or open.",
    display_name="Name shown to shoppers",
    display_name_hint="Sent to the screen when you accept a chat; nothing else about you is.",
    badge_title="{n} chats waiting for a person",
    state_bot="with the bot",
    state_waiting="waiting for a person",
    state_open="open",
    state_resolved="resolved",
    state_ended="ended",
    reason_button="the shopper tapped 'talk to a person'",
    reason_words="the shopper asked for a person",
    reason_repeated_declines="the bot could not answer, repeatedly",
    reason_frustrated="a frustrated message",
    reason_negative_valence="sustained frustration at the screen",
    unanswered_timeout="nobody accepted in time: the shopper was told and offered a staff call",
    unanswered_off_duty="outside duty hours: the shopper was told and offered a staff call",
    end_done="the shopper tapped 'done'",
    end_visit_ended="the shopper left",
    end_timeout="idle too long",
    end_resolved="resolved by an operator",
    end_maintenance="the kiosk left the chat (maintenance)",
    waiting_for="waiting {seconds} s",
    taken_by="with {name} ({user})",
    handed_back_by="handed back to the bot by {user}",
    resolved_by="resolved by {user}",
    who_shopper="Shopper",
    who_bot="Bot",
    who_system="Kiosk",
    line_chat_opened="Chat opened ({lang}, from the {where} screen)",
    line_handoff="Handed to a person: {reason}",
    line_unanswered="Shopper told: {reason}",
    line_ended="Chat ended: {reason}",
    line_csat="Rated the chat {score}/5",
    line_accept="{name} joined",
    line_hand_back="Handed back to the bot",
    line_resolve="Resolved",
    bot_answer="answered",
    bot_clarify="asked which was meant",
    bot_decline="could not answer",
    bot_handoff="called a person",
    status_sending="sending",
    status_sent="sent",
    status_not_sent="not sent",
    status_shown="on the screen",
    status_duplicate="on the screen",
    status_refused="refused by the kiosk",
    guesses="Bot's last guesses",
    guesses_none="none",
    accept="Accept",
    reply_placeholder="Your message to the shopper",
    send="Send",
    hand_back="Hand back to the bot",
    resolve="Resolve",
    already_accepted="Already accepted by {who}.",
    already_finished="This chat is {state} already.",
    not_yours="{who} has this chat: only they can write in it.",
    not_open="This chat is not open (it is {state}).",
    not_connected=(
        "The back office is not connected to the broker, so the kiosk cannot be reached now; nothing was "
        "changed. Check the broker (backoffice serve --broker) and try again."
    ),
    not_told="Done here, but the kiosk was not told: {problem}",
    unsigned=(
        "Sent unsigned: this server has no signing key, and kiosks refuse unsigned operator messages. "
        "Start it with backoffice serve --key."
    ),
    transcript_deleted="The transcript was deleted by retention; the figures stay.",
    kpi_title="Chat",
    kpi_total="KPIs over the range",
    kpi_by_day="By day",
    kpi_by_hour="By hour",
    kpi_per_store="Per store",
    kpi_reasons="Hand-offs by reason",
    kpi_unanswered="Unanswered questions: the FAQ's to-do list",
    kpi_csat_distribution="Chat ratings by score",
    kpi_note_unanswered=(
        "Questions the bot could not answer, as the shoppers typed them (masked on the kiosk), most asked "
        "first; kept {days} days with the transcripts, while the counts stay."
    ),
    kpi_note_k="A figure built from fewer than {k} conversations (ratings: answers) is shown as '< {k}'.",
    col_conversations="Conversations",
    col_finished="Finished",
    col_contained="Contained",
    col_containment_rate="Containment rate",
    col_handed_off="Handed off",
    col_handoff_rate="Hand-off rate",
    col_unanswered_timeout="Unanswered in time",
    col_unanswered_off_duty="Off duty",
    col_declined="Unanswered questions",
    col_accepted="Accepted",
    col_accept_mean_s="Time to accept, s",
    col_first_replies="First replies",
    col_first_reply_mean_s="First reply time, s",
    col_first_reply_within_60s="First reply within 60 s",
    col_resolved="Resolved",
    col_resolution_mean_s="Resolution time, s",
    col_handed_back="Handed back",
    col_csat_responses="Ratings",
    col_csat_mean="Rating (1-5)",
    col_csat_satisfied="Satisfied (4-5)",
    col_reason="Reason",
    col_share_of_handoffs="Share of hand-offs",
    col_question="Question",
    col_lang="Language",
    col_asked="Asked",
    col_last_asked="Last asked",
    col_guesses="Bot's guesses",
    col_score="Score",
    col_answers="Answers",
    chart_conversations_by_day="Conversations by day",
    chart_times_by_day="Operators' times by day (s)",
    chart_reasons="Hand-offs by reason",
    chart_csat="Chat ratings",
)

RU: Final = ChatWords(
    console_title="Чат с покупателями",
    console_note=(
        "Чаты, которые киоски передают человеку. Примите чат, чтобы подключиться: на экране покупателя "
        "появится, что к нему подключился сотрудник, с вашим именем, как оно указано ниже; бот молчит, "
        "пока вы не вернёте ему чат. Личные данные в текстах покупателей скрыты на киоске; переписка "
        "удаляется по истечении срока хранения."
    ),
    console_live="Текущие чаты",
    console_none="Нет чатов, ожидающих сотрудника или открытых.",
    display_name="Имя для покупателей",
    display_name_hint="Показывается на экране, когда вы принимаете чат; больше ничего о вас не передаётся.",
    badge_title="Чатов, ожидающих сотрудника: {n}",
    state_bot="с ботом",
    state_waiting="ждёт сотрудника",
    state_open="открыт",
    state_resolved="закрыт",
    state_ended="завершён",
    reason_button="покупатель нажал «позвать человека»",
    reason_words="покупатель попросил человека",
    reason_repeated_declines="бот несколько раз не смог ответить",
    reason_frustrated="раздражённое сообщение",
    reason_negative_valence="устойчивое недовольство у экрана",
    unanswered_timeout="никто не принял вовремя: покупателю сказали и предложили вызвать персонал",
    unanswered_off_duty="вне рабочих часов: покупателю сказали и предложили вызвать персонал",
    end_done="покупатель нажал «готово»",
    end_visit_ended="покупатель ушёл",
    end_timeout="долго без действий",
    end_resolved="закрыт сотрудником",
    end_maintenance="киоск вышел из чата (обслуживание)",
    waiting_for="ждёт {seconds} с",
    taken_by="у {name} ({user})",
    handed_back_by="возвращён боту: {user}",
    resolved_by="закрыт: {user}",
    who_shopper="Покупатель",
    who_bot="Бот",
    who_system="Киоск",
    line_chat_opened="Чат открыт ({lang}, с экрана «{where}»)",
    line_handoff="Передан человеку: {reason}",
    line_unanswered="Покупателю сказано: {reason}",
    line_ended="Чат завершён: {reason}",
    line_csat="Оценка чата: {score}/5",
    line_accept="{name} подключился к чату",
    line_hand_back="Чат возвращён боту",
    line_resolve="Чат закрыт",
    bot_answer="ответил",
    bot_clarify="уточнил, что имелось в виду",
    bot_decline="не смог ответить",
    bot_handoff="позвал человека",
    status_sending="отправляется",
    status_sent="отправлено",
    status_not_sent="не отправлено",
    status_shown="на экране",
    status_duplicate="на экране",
    status_refused="отклонено киоском",
    guesses="Последние догадки бота",
    guesses_none="нет",
    accept="Принять",
    reply_placeholder="Ваше сообщение покупателю",
    send="Отправить",
    hand_back="Вернуть боту",
    resolve="Закрыть",
    already_accepted="Уже принят: {who}.",
    already_finished="Этот чат уже {state}.",
    not_yours="Этот чат у {who}: писать в нём может только он.",
    not_open="Этот чат не открыт (он {state}).",
    not_connected=(
        "Бэк-офис не подключён к брокеру, поэтому до киоска сейчас не достучаться; ничего не изменено. "
        "Проверьте брокер (backoffice serve --broker) и повторите."
    ),
    not_told="Здесь сделано, но киоск не уведомлён: {problem}",
    unsigned=(
        "Отправлено без подписи: у сервера нет ключа, а киоски не принимают неподписанные сообщения. "
        "Запустите его с backoffice serve --key."
    ),
    transcript_deleted="Переписка удалена по сроку хранения; показатели сохранены.",
    kpi_title="Чат",
    kpi_total="Показатели за период",
    kpi_by_day="По дням",
    kpi_by_hour="По часам",
    kpi_per_store="По магазинам",
    kpi_reasons="Передачи человеку по причинам",
    kpi_unanswered="Вопросы без ответа: что добавить в FAQ",
    kpi_csat_distribution="Оценки чатов",
    kpi_note_unanswered=(
        "Вопросы, на которые бот не смог ответить, как их написали покупатели (личные данные скрыты на "
        "киоске), самые частые сверху; хранятся {days} дн. вместе с перепиской, счётчики остаются."
    ),
    kpi_note_k="Показатель менее чем по {k} чатам (оценки: ответам) показан как «< {k}».",
    col_conversations="Чаты",
    col_finished="Завершены",
    col_contained="Без человека",
    col_containment_rate="Доля без человека",
    col_handed_off="Переданы человеку",
    col_handoff_rate="Доля переданных",
    col_unanswered_timeout="Не приняты вовремя",
    col_unanswered_off_duty="Вне рабочих часов",
    col_declined="Вопросы без ответа",
    col_accepted="Приняты",
    col_accept_mean_s="Время до принятия, с",
    col_first_replies="Первые ответы",
    col_first_reply_mean_s="Время первого ответа, с",
    col_first_reply_within_60s="Первый ответ за 60 с",
    col_resolved="Закрыты",
    col_resolution_mean_s="Время до закрытия, с",
    col_handed_back="Возвращены боту",
    col_csat_responses="Оценки",
    col_csat_mean="Оценка (1-5)",
    col_csat_satisfied="Довольны (4-5)",
    col_reason="Причина",
    col_share_of_handoffs="Доля передач",
    col_question="Вопрос",
    col_lang="Язык",
    col_asked="Спрашивали",
    col_last_asked="Последний раз",
    col_guesses="Догадки бота",
    col_score="Оценка",
    col_answers="Ответы",
    chart_conversations_by_day="Чаты по дням",
    chart_times_by_day="Время сотрудников по дням (с)",
    chart_reasons="Передачи человеку по причинам",
    chart_csat="Оценки чатов",
)


def chat_words_for(language: Language) -> ChatWords:
    """The chat's words in ``language``."""
    return RU if language == "ru" else EN
