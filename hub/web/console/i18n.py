"""The console's words in Arabic (first) and English, and the small formatters that depend on language.

The language comes from the ``tawasul_lang`` cookie (``ar`` unless it says ``en``). Every key has
both languages; a missing key shows itself (``[key]``) rather than failing the page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ticket_core.quality import RUBRIC

LANG_COOKIE = "tawasul_lang"
LANGUAGES = ("ar", "en")

WORDS: dict[str, tuple[str, str]] = {
    # frame
    "app": ("تواصل — وحدة المنسقين", "Tawasul — coordinators' console"),
    "skip": ("تخطَّ إلى المحتوى", "Skip to content"),
    "nav": ("التنقل الرئيسي", "Main navigation"),
    "inbox": ("صندوق الوارد", "Inbox"),
    "manual": ("إرسال يدوي", "Manual sends"),
    "dashboard": ("لوحة المتابعة", "Dashboard"),
    "settings": ("الإعدادات", "Settings"),
    "notifications": ("التنبيهات", "Notifications"),
    "logout": ("تسجيل الخروج", "Sign out"),
    "language_other": ("English", "العربية"),
    "language_switch": ("Switch to English", "التبديل إلى العربية"),
    "on_duty": ("في الخدمة", "On duty"),
    "off_duty": ("خارج الخدمة", "Off duty"),
    "go_on_duty": ("بدء المناوبة", "Go on duty"),
    "go_off_duty": ("إنهاء المناوبة", "Go off duty"),
    "live_on": ("التحديث المباشر يعمل", "Live updates on"),
    "live_off": ("التحديث المباشر متوقف — إعادة الاتصال…", "Live updates paused — reconnecting…"),
    "new_activity": ("تحديثات جديدة", "New activity"),
    "updated": ("تم تحديث القائمة", "List updated"),
    "loading": ("جارٍ التحميل…", "Loading…"),
    # login
    "login_title": ("تسجيل الدخول", "Sign in"),
    "username": ("اسم المستخدم", "Username"),
    "password": ("كلمة المرور", "Password"),
    "login_button": ("دخول", "Sign in"),
    "login_invalid": ("اسم المستخدم أو كلمة المرور غير صحيحة.", "Wrong username or password."),
    "login_locked": (
        "تم قفل الحساب مؤقتاً بعد محاولات دخول خاطئة متكررة. حاول مجدداً بعد {when}.",
        "The account is locked after repeated failed sign-ins. Try again after {when}.",
    ),
    "login_missing": ("أدخل اسم المستخدم وكلمة المرور.", "Enter your username and password."),
    "login_failed": ("تعذّر تسجيل الدخول، حاول مرة أخرى.", "Sign-in failed; please try again."),
    "login_hint": (
        "بعد خمس محاولات خاطئة يُقفل الحساب خمس عشرة دقيقة.",
        "After five wrong attempts the account is locked for fifteen minutes.",
    ),
    # inbox
    "filters": ("التصفية والبحث", "Filter and search"),
    "search": ("بحث", "Search"),
    "search_hint": ("رقم الطلب أو الاسم أو الجوال أو نص", "Ticket number, name, phone or text"),
    "status": ("الحالة", "Status"),
    "category": ("التصنيف", "Category"),
    "channel": ("القناة", "Channel"),
    "sla": ("مهلة الرد", "SLA"),
    "level": ("مستوى التصعيد", "Escalation level"),
    "level_short": ("المستوى", "Level"),
    "assigned": ("الإسناد", "Assignment"),
    "assigned_me": ("المسندة إليّ", "Assigned to me"),
    "assigned_none": ("غير المسندة", "Unassigned"),
    "any": ("الكل", "Any"),
    "open_only": ("المفتوحة فقط", "Open only"),
    "apply": ("تطبيق", "Apply"),
    "clear": ("مسح", "Clear"),
    "number": ("رقم الطلب", "Ticket"),
    "citizen": ("المستفيد", "Citizen"),
    "subject": ("الموضوع", "Subject"),
    "unit": ("الجهة", "Unit"),
    "assignee": ("المنسق", "Coordinator"),
    "time_left": ("الوقت المتبقي", "Time left"),
    "no_tickets": ("لا توجد طلبات تطابق التصفية.", "No tickets match these filters."),
    "next_page": ("الصفحة التالية", "Next page"),
    "first_page": ("الصفحة الأولى", "First page"),
    "tickets_of": ("طلبات وحداتي", "Tickets of my units"),
    "overdue_by": ("متأخر {d}", "Overdue by {d}"),
    "left": ("متبقٍ {d}", "{d} left"),
    "paused": ("متوقف بانتظار المستفيد", "Paused, waiting for the citizen"),
    "done": ("منتهٍ", "Done"),
    "days_short": ("{n} ي", "{n}d"),
    "hours_short": ("{n} س", "{n}h"),
    "minutes_short": ("{n} د", "{n}m"),
    "unassigned": ("غير مسند", "Unassigned"),
    # conversation
    "conversation": ("المحادثة", "Conversation"),
    "timeline": ("السجل الكامل للمستفيد", "The citizen's whole history"),
    "timeline_hint": (
        "كل الرسائل عبر جميع القنوات المرتبطة بهذا المستفيد، والملاحظات الداخلية، وأحداث النظام.",
        "Every message across all this citizen's linked channels, internal notes and system events.",
    ),
    "linked_channels": ("القنوات المرتبطة", "Linked channels"),
    "other_tickets": ("طلبات أخرى للمستفيد", "The citizen's other tickets"),
    "phone": ("الجوال", "Phone"),
    "email": ("البريد", "E-mail"),
    "due": ("موعد الرد", "Due"),
    "created": ("أُنشئ", "Opened"),
    "state": ("وضع المحادثة", "Conversation"),
    "state_bot": ("يرد عليها البوت", "Bot is answering"),
    "state_human": ("يتولاها منسق", "A coordinator has it"),
    "state_awaiting_rating": ("بانتظار التقييم", "Waiting for a rating"),
    "state_awaiting_objection_confirm": ("بانتظار تأكيد الاعتراض", "Waiting for objection confirmation"),
    "taken_by_other": (
        "هذه المحادثة يتولاها الآن {name}. لا يمكن لمنسقَين تولي المحادثة نفسها.",
        "{name} is handling this conversation now. Two coordinators cannot take the same conversation.",
    ),
    "already_taken": (
        "تعذّر التولي: منسق آخر تولى هذه المحادثة قبلك. حدّث الصفحة لترى من يتولاها.",
        "Could not take over: another coordinator took this conversation first. Reload to see who has it.",
    ),
    "actions": ("الإجراءات", "Actions"),
    "take_over": ("تولي المحادثة (إيقاف البوت)", "Take over (pause the bot)"),
    "hand_back": ("إعادة المحادثة إلى البوت", "Hand back to the bot"),
    "reply": ("الرد على المستفيد", "Reply to the citizen"),
    "reply_text": ("نص الرد", "Reply text"),
    "canned": ("ردود جاهزة", "Canned responses"),
    "canned_pick": ("اختر رداً جاهزاً…", "Pick a canned response…"),
    "send": ("إرسال", "Send"),
    "send_resolve": ("إرسال وإنهاء الطلب", "Send and resolve"),
    "wait_citizen": ("إيقاف المهلة بانتظار رد المستفيد", "Pause the SLA while waiting for the citizen"),
    "note": ("ملاحظة داخلية", "Internal note"),
    "note_hint": ("لا تُرسل إلى المستفيد.", "Never sent to the citizen."),
    "add_note": ("حفظ الملاحظة", "Save note"),
    "transfer": ("تحويل إلى جهة أخرى", "Transfer to another unit"),
    "transfer_to": ("الجهة", "Unit"),
    "reason": ("السبب", "Reason"),
    "do_transfer": ("تحويل", "Transfer"),
    "escalate": ("تصعيد إلى المستوى الأعلى", "Escalate one level up"),
    "do_escalate": ("تصعيد", "Escalate"),
    "resolve": ("إنهاء الطلب (تم الرد)", "Resolve (answered)"),
    "do_resolve": ("تعليم كمُجاب وطلب التقييم", "Mark answered and ask for a rating"),
    "resolve_hint": (
        "يُعتبر آخر رد أُرسل هو الإجابة، ويُطلب من المستفيد تقييمها.",
        "The last reply sent counts as the answer; the citizen is asked to rate it.",
    ),
    "link": ("ربط هويات المستفيد", "Link the citizen's identities"),
    "link_hint": (
        "أدخل رقم طلب آخر لنفس الشخص من قناة أخرى ليُدمج سجله هنا.",
        "Enter another ticket of the same person from another channel to merge their history here.",
    ),
    "link_ticket": ("رقم الطلب الآخر", "Other ticket number"),
    "do_link": ("ربط", "Link"),
    "confirm_escalate": ("تأكيد التصعيد إلى المستوى الأعلى؟", "Escalate this ticket one level up?"),
    "confirm_transfer": ("تأكيد تحويل الطلب؟", "Transfer this ticket?"),
    "done_ok": ("تم.", "Done."),
    "error": ("حدث خطأ: {message}", "Something went wrong: {message}"),
    "not_allowed": ("الإجراء غير مسموح الآن: {message}", "Not allowed now: {message}"),
    "session_over": ("انتهت الجلسة، سجّل الدخول مجدداً.", "Your session ended; please sign in again."),
    # limits
    "limits": ("حدود القناة", "Channel limits"),
    "max_length": ("الحد الأقصى للرسالة: {n} {unit}", "Maximum message length: {n} {unit}"),
    "unit_chars": ("حرف", "characters"),
    "unit_bytes": ("بايت (الحرف العربي = 2 بايت)", "bytes (an Arabic letter is 2 bytes)"),
    "split_note": ("الرد الأطول يُقسَّم تلقائياً إلى أجزاء.", "A longer reply is split into parts automatically."),
    "counter": ("{n} / {max} — {parts} جزء", "{n} / {max} — {parts} part(s)"),
    "window_none": ("لا توجد نافذة زمنية للرد في هذه القناة.", "This channel has no reply window."),
    "window_unknown": (
        "وقت آخر رسالة من المستفيد غير معروف؛ المنصة تقرر قبول الرد.",
        "The citizen's last message time is unknown; the platform decides whether a reply is accepted.",
    ),
    "window_open": (
        "نافذة الرد ({h} ساعة) مفتوحة حتى {until} (متبقٍ {left}).",
        "The {h}-hour reply window is open until {until} ({left} left).",
    ),
    "window_human": (
        "انتهت نافذة الـ{h} ساعة؛ يمكنك كمنسق الرد حتى {until} (وسم «وكيل بشري»)، أما الردود الآلية فتُرفض.",
        "The {h}-hour window has closed; as a person you can still reply until {until} (HUMAN_AGENT tag); "
        "automated replies are refused.",
    ),
    "window_closed": (
        "نافذة الرد مغلقة: لن يصل أي رد حتى يكتب المستفيد مجدداً، وسيظهر الرد كفاشل بسبب «النافذة مغلقة».",
        "The reply window is closed: no reply can be delivered until the citizen writes again; "
        "a reply would fail as «window closed».",
    ),
    "after_close_human": (
        "بعد إغلاقها: يمكن للمنسق الرد حتى {until} فقط.",
        "After it closes: a coordinator can still reply until {until}.",
    ),
    "after_close_refused": (
        "بعد إغلاقها: تُرفض الردود (قالب معتمد فقط) حتى يكتب المستفيد مجدداً.",
        "After it closes: replies are refused (approved templates only) until the citizen writes again.",
    ),
    "manual_channel": (
        "الردود في هذه القناة تُرسل يدوياً من تطبيق سناب شات ثم تُؤكَّد هنا.",
        "Replies on this channel are sent by hand in the Snapchat app and confirmed here.",
    ),
    # manual sends
    "manual_title": ("رسائل بانتظار الإرسال اليدوي", "Messages waiting to be sent by hand"),
    "send_manually": ("أرسل يدوياً في سناب شات", "Send manually in Snapchat"),
    "copy": ("نسخ النص", "Copy text"),
    "copied": ("تم النسخ", "Copied"),
    "confirm_sent": ("تأكيد الإرسال", "Confirm sent"),
    "to": ("إلى", "To"),
    "no_manual": ("لا توجد رسائل بانتظار الإرسال اليدوي.", "No messages are waiting to be sent by hand."),
    # timeline
    "author_citizen": ("المستفيد", "Citizen"),
    "author_bot": ("البوت", "Bot"),
    "author_coordinator": ("المنسق", "Coordinator"),
    "author_system": ("النظام", "System"),
    "internal_note": ("ملاحظة داخلية", "Internal note"),
    "delivery": ("التسليم", "Delivery"),
    "delivery_pending": ("بانتظار الإرسال", "waiting to be sent"),
    "delivery_sending": ("جارٍ الإرسال", "sending"),
    "delivery_retry": ("ستُعاد المحاولة", "will retry"),
    "delivery_sent": ("أُرسلت", "sent"),
    "delivery_dead": ("فشل الإرسال", "failed"),
    "delivery_manual": ("بانتظار الإرسال اليدوي", "waiting to be sent by hand"),
    "event": ("حدث", "Event"),
    "empty_timeline": ("لا توجد رسائل بعد.", "No messages yet."),
    "bidi_control": ("حرف تحكم في الاتجاه (أُبطل)", "direction control character (neutralised)"),
    # dashboard
    "period": ("الفترة", "Period"),
    "last_n_days": ("آخر {n} يوماً", "Last {n} days"),
    "show": ("عرض", "Show"),
    "kpi_tickets": ("الطلبات", "Tickets"),
    "kpi_sla": ("الالتزام بالمهلة", "SLA compliance"),
    "kpi_first_response": ("وسيط أول رد (ساعات عمل)", "Median first response (working h)"),
    "kpi_resolution": ("وسيط الحل (ساعات عمل)", "Median resolution (working h)"),
    "kpi_objection": ("نسبة الاعتراض", "Objection rate"),
    "kpi_csat": ("متوسط رضا المستفيدين", "Average CSAT"),
    "kpi_open": ("مفتوحة الآن", "Open now"),
    "kpi_overdue": ("متأخرة الآن", "Overdue now"),
    "chart_by_category": ("الطلبات يومياً حسب التصنيف", "Tickets per day by category"),
    "chart_by_channel": ("الطلبات يومياً حسب القناة", "Tickets per day by channel"),
    "chart_by_sector": ("الطلبات يومياً حسب القطاع", "Tickets per day by sector"),
    "chart_sla": ("الالتزام بمهلة أول رد (٪)", "First-answer SLA compliance (%)"),
    "chart_times": ("وسيط زمن أول رد وزمن الحل (ساعات عمل)", "Median first response and resolution (working h)"),
    "chart_objection": ("نسبة الاعتراض (٪)", "Objection rate (%)"),
    "chart_csat": ("متوسط تقييم الرضا (1–5)", "Average satisfaction rating (1–5)"),
    "chart_levels": ("التصعيد حسب المستوى", "Escalations by level"),
    "chart_topics": ("أكثر المواضيع تكراراً", "Top recurring topics"),
    "series_first_response": ("أول رد", "First response"),
    "series_resolution": ("الحل", "Resolution"),
    "series_sla": ("الالتزام", "Compliance"),
    "series_objection": ("الاعتراض", "Objections"),
    "series_csat": ("الرضا", "CSAT"),
    "data_table": ("عرض البيانات كجدول", "Show the data as a table"),
    "day": ("اليوم", "Day"),
    "no_data": ("لا توجد بيانات في هذه الفترة.", "No data in this period."),
    "export_csv": ("تصدير CSV", "Export CSV"),
    "export_dashboard": ("السلاسل اليومية (CSV)", "Daily series (CSV)"),
    "export_report": ("التقرير الكامل (CSV)", "Full report (CSV)"),
    "quality_queue": ("قائمة مراجعة الجودة (تجويد)", "Quality review queue"),
    "quality_empty": ("لا توجد طلبات بانتظار المراجعة.", "No tickets are waiting for review."),
    "review_reason_low_csat": ("تقييم منخفض", "Low rating"),
    "review_reason_sample": ("عينة عشوائية", "Random sample"),
    "rubric_score": ("الدرجة من 1 إلى 5", "Score from 1 to 5"),
    "review_comment": ("ملاحظة للمنسق", "Comment for the coordinator"),
    "send_back": ("إعادة الطلب للمنسق (يُعاد فتحه)", "Send back to the coordinator (reopens it)"),
    "submit_review": ("حفظ المراجعة", "Save review"),
    "team": ("الفريق والمناوبة", "Team and duty"),
    "open_load": ("طلبات مفتوحة", "Open tickets"),
    "role": ("الدور", "Role"),
    "role_coordinator": ("منسق", "Coordinator"),
    "role_supervisor": ("مشرف", "Supervisor"),
    "role_admin": ("مدير النظام", "Administrator"),
    "role_head": ("رئيس الجهة", "Head"),
    # settings
    "units": ("الجهات", "Units"),
    "users": ("المستخدمون", "Users"),
    "channels": ("القنوات وحالتها", "Channels and health"),
    "faq": ("الأسئلة الشائعة", "FAQ entries"),
    "routing": ("قواعد التوجيه", "Routing rules"),
    "holidays": ("الإجازات الرسمية", "Official holidays"),
    "kind": ("النوع", "Kind"),
    "head": ("الرئيس", "Head"),
    "cap": ("الحد لكل منسق", "Cap per coordinator"),
    "triage": ("فرز", "Triage"),
    "enabled": ("مفعّلة", "Enabled"),
    "disabled": ("غير مفعّلة", "Not enabled"),
    "last_success": ("آخر إرسال ناجح", "Last success"),
    "last_error": ("آخر خطأ", "Last error"),
    "sent_failed": ("أُرسل / فشل", "Sent / failed"),
    "window": ("نافذة الرد", "Reply window"),
    "max_len_head": ("الطول الأقصى", "Max length"),
    "hours": ("{n} ساعة", "{n} h"),
    "none": ("—", "—"),
    "topic": ("الموضوع", "Topic"),
    "owner": ("الجهة المالكة", "Owner"),
    "review_by": ("تاريخ المراجعة", "Review by"),
    "question": ("السؤال", "Question"),
    "rule": ("القاعدة", "Rule"),
    "when": ("الشرط", "When"),
    "route_to": ("إلى", "To"),
    "default_route": ("الافتراضي", "Default"),
    "date": ("التاريخ", "Date"),
    "name": ("الاسم", "Name"),
    "overdue_review": ("تجاوز موعد المراجعة", "review overdue"),
    "toggle_duty": ("تبديل المناوبة", "Toggle duty"),
    "notifications_empty": ("لا توجد تنبيهات جديدة.", "No new notifications."),
    "mark_all_read": ("تعليم الكل كمقروء", "Mark all as read"),
    "not_found_title": ("غير موجود", "Not found"),
    "not_found": (
        "لا يوجد طلب بهذا الرقم ضمن جهاتك.",
        "There is no ticket with this number in your units.",
    ),
    "forbidden_title": ("غير مسموح", "Not allowed"),
    "forbidden": ("هذه الصفحة ليست متاحة لدورك.", "This page is not available to your role."),
    "back_inbox": ("العودة إلى صندوق الوارد", "Back to the inbox"),
}

VOCAB: dict[str, dict[str, tuple[str, str]]] = {
    "status": {
        "new": ("جديد", "New"),
        "assigned": ("مسند", "Assigned"),
        "in_progress": ("قيد المعالجة", "In progress"),
        "answered": ("تم الرد", "Answered"),
        "objected": ("معترض عليه", "Objected"),
        "escalated": ("مُصعَّد", "Escalated"),
        "reopened": ("أعيد فتحه", "Reopened"),
        "closed": ("مغلق", "Closed"),
        "cancelled": ("ملغى", "Cancelled"),
    },
    "category": {
        "inquiry": ("استفسار", "Inquiry"),
        "complaint": ("شكوى", "Complaint"),
        "suggestion": ("اقتراح", "Suggestion"),
        "consultation": ("استشارة", "Consultation"),
    },
    "channel": {
        "telegram": ("تيليجرام", "Telegram"),
        "portal": ("البوابة", "Portal"),
        "whatsapp": ("واتساب", "WhatsApp"),
        "facebook": ("فيسبوك", "Facebook"),
        "instagram": ("إنستغرام", "Instagram"),
        "twitter": ("إكس (تويتر)", "X (Twitter)"),
        "snapchat": ("سناب شات", "Snapchat"),
        "skype": ("سكايب", "Skype"),
        "msteams": ("تيمز", "Teams"),
        "webchat": ("المحادثة على الموقع", "Web chat"),
    },
    "sla": {
        "overdue": ("متأخر", "Overdue"),
        "due_soon": ("يستحق خلال يوم", "Due within a day"),
        "ok": ("ضمن المهلة", "On time"),
        "paused": ("متوقف", "Paused"),
        "done": ("منتهٍ", "Done"),
    },
    "action": {
        "ticket.created": ("فُتح الطلب", "Ticket opened"),
        "ticket.assigned": ("أُسند الطلب", "Assigned"),
        "ticket.unassigned": ("أُلغي الإسناد", "Unassigned"),
        "ticket.escalated": ("صُعِّد الطلب", "Escalated"),
        "ticket.transferred": ("حُوِّل الطلب", "Transferred"),
        "ticket.answered": ("تم الرد", "Answered"),
        "ticket.objected": ("اعترض المستفيد", "Citizen objected"),
        "ticket.reopened": ("أعيد فتح الطلب", "Reopened"),
        "ticket.closed": ("أُغلق الطلب", "Closed"),
        "ticket.cancelled": ("أُلغي الطلب", "Cancelled"),
        "ticket.in_progress": ("قيد المعالجة", "In progress"),
        "ticket.note": ("أضيفت ملاحظة", "Note added"),
        "ticket.replied": ("أُرسل رد", "Reply sent"),
        "ticket.rated": ("قيّم المستفيد الرد", "Citizen rated the answer"),
        "ticket.sla_paused": ("توقفت المهلة", "SLA paused"),
        "ticket.sla_resumed": ("استؤنفت المهلة", "SLA resumed"),
        "ticket.message_added": ("رسالة جديدة على الطلب", "New message on the ticket"),
        "ticket.status_viewed": ("استعلم المستفيد عن الحالة", "Citizen asked for the status"),
        "conversation.taken_over": ("تولى منسق المحادثة", "A coordinator took over"),
        "conversation.handed_back": ("أعيدت المحادثة إلى البوت", "Handed back to the bot"),
        "conversation.state": ("تغيّر وضع المحادثة", "Conversation state changed"),
        "delivery.sent_by_hand": ("أُرسل يدوياً", "Sent by hand"),
        "delivery.dead": ("فشل الإرسال", "Delivery failed"),
        "quality.reviewed": ("رُوجعت الجودة", "Quality reviewed"),
    },
    "notification": {
        "assigned": ("أُسند إليك طلب", "A ticket was assigned to you"),
        "escalated": ("صُعِّد إليك طلب", "A ticket was escalated to you"),
        "citizen_message": ("رسالة جديدة من مستفيد", "New message from a citizen"),
        "handoff_requested": ("مستفيد يطلب التحدث مع موظف", "A citizen asks for a person"),
        "objected": ("اعتراض على رد", "An answer was objected to"),
        "conversation_bot": ("أعيدت محادثة إلى البوت", "A conversation went back to the bot"),
    },
}
for _key, _texts in RUBRIC.items():
    VOCAB.setdefault("rubric", {})[_key] = (_texts["ar"], _texts["en"])


def pick_language(value: str | None) -> str:
    return "en" if value == "en" else "ar"


class Translator:
    """``t(key, **values)`` and ``v(group, key)`` for one language, handed to the templates."""

    def __init__(self, lang: str) -> None:
        self.lang = pick_language(lang)
        self.i = 0 if self.lang == "ar" else 1
        self.dir = "rtl" if self.lang == "ar" else "ltr"

    def __call__(self, key: str, **values: Any) -> str:
        entry = WORDS.get(key)
        if entry is None:
            return f"[{key}]"
        text = entry[self.i]
        return text.format(**values) if values else text

    def v(self, group: str, key: Any) -> str:
        entry = VOCAB.get(group, {}).get(str(key))
        if entry is None:
            return str(key)
        return entry[self.i]

    def name(self, row: Any, *, prefix: str = "name") -> str:
        """``name_ar`` or ``name_en`` of a mapping or object, falling back to the other language."""
        get = row.get if isinstance(row, dict) else lambda k: getattr(row, k, None)
        first, second = (f"{prefix}_ar", f"{prefix}_en") if self.i == 0 else (f"{prefix}_en", f"{prefix}_ar")
        return str(get(first) or get(second) or "")

    def duration(self, seconds: float) -> str:
        """A short duration: «2 ي 3 س», «5 س 10 د», «12 د» (or 2d 3h, ...)."""
        seconds = abs(int(seconds))
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        if days:
            parts = [self("days_short", n=days)] + ([self("hours_short", n=hours)] if hours else [])
        elif hours:
            parts = [self("hours_short", n=hours)] + ([self("minutes_short", n=minutes)] if minutes else [])
        else:
            parts = [self("minutes_short", n=max(minutes, 0))]
        return " ".join(parts)

    def time_left(self, seconds: float | None, sla: str) -> str:
        if sla == "paused":
            return self("paused")
        if sla == "done" or seconds is None:
            return self("done")
        return self("overdue_by", d=self.duration(seconds)) if seconds <= 0 else self("left", d=self.duration(seconds))


def local_time(value: datetime | str | None, tz: ZoneInfo) -> str:
    """``2026-11-25 19:54`` in the service's time zone (digits stay Western: the service's own style)."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")
