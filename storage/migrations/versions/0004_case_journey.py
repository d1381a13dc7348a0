"""case journey: quotes, written opinions and their links, doctor e-mails, saved replies,
video consultations

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f'{target}.id'],
                                   name=op.f(f'fk_{table}_{column}_{target}'), ondelete=ondelete)


def upgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('physician_email', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('paid_elsewhere_at', WHEN, nullable=True))
    op.create_table('quotes',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('service', sa.String(length=32), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('within_range', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('coordinator_id', ID, nullable=True),
    sa.Column('message_id', ID, nullable=True),
    sa.Column('answer', sa.String(length=12), nullable=True),
    sa.Column('answered_at', WHEN, nullable=True),
    sa.Column('superseded_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    _fk('quotes', 'case_id', 'cases', 'CASCADE'),
    _fk('quotes', 'coordinator_id', 'coordinators'),
    _fk('quotes', 'message_id', 'messages', 'SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quotes')),
    )
    op.create_index(op.f('ix_quotes_case_id'), 'quotes', ['case_id'], unique=False)
    op.create_table('opinions',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('storage_key', sa.String(length=128), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('coordinator_id', ID, nullable=True),
    sa.Column('replaced_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    _fk('opinions', 'case_id', 'cases', 'CASCADE'),
    _fk('opinions', 'coordinator_id', 'coordinators'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opinions')),
    )
    op.create_index(op.f('ix_opinions_case_id'), 'opinions', ['case_id'], unique=False)
    op.create_table('opinion_links',
    sa.Column('id', ID, nullable=False),
    sa.Column('opinion_id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('audience', sa.String(length=8), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', WHEN, nullable=False),
    sa.Column('revoked_at', WHEN, nullable=True),
    sa.Column('first_opened_at', WHEN, nullable=True),
    sa.Column('last_opened_at', WHEN, nullable=True),
    sa.Column('downloads', sa.Integer(), nullable=False),
    sa.Column('created_at', WHEN, nullable=False),
    _fk('opinion_links', 'opinion_id', 'opinions', 'CASCADE'),
    _fk('opinion_links', 'case_id', 'cases', 'CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opinion_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_opinion_links_token_hash')),
    )
    op.create_index(op.f('ix_opinion_links_opinion_id'), 'opinion_links', ['opinion_id'],
                    unique=False)
    op.create_index(op.f('ix_opinion_links_case_id'), 'opinion_links', ['case_id'], unique=False)
    op.create_table('emails',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('to_address', sa.String(length=255), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', WHEN, nullable=False),
    sa.Column('claimed_at', WHEN, nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('coordinator_id', ID, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('sent_at', WHEN, nullable=True),
    _fk('emails', 'case_id', 'cases', 'CASCADE'),
    _fk('emails', 'coordinator_id', 'coordinators'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emails')),
    )
    op.create_index(op.f('ix_emails_case_id'), 'emails', ['case_id'], unique=False)
    op.create_index('ix_emails_due', 'emails', ['status', 'next_attempt_at'], unique=False)
    saved = op.create_table('saved_replies',
    sa.Column('id', ID, nullable=False),
    sa.Column('texts', JSON, nullable=False),
    sa.Column('created_by', ID, nullable=True),
    sa.Column('retired_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('updated_at', WHEN, nullable=False),
    _fk('saved_replies', 'created_by', 'coordinators'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_replies')),
    )
    _seed_saved_replies(saved)
    op.create_table('video_consultations',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('starts_at', WHEN, nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('join_url', sa.String(length=500), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('coordinator_id', ID, nullable=True),
    sa.Column('cancelled_at', WHEN, nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    _fk('video_consultations', 'case_id', 'cases', 'CASCADE'),
    _fk('video_consultations', 'coordinator_id', 'coordinators'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_video_consultations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_video_consultations_token_hash')),
    )
    op.create_index(op.f('ix_video_consultations_case_id'), 'video_consultations', ['case_id'],
                    unique=False)


def _seed_saved_replies(table: sa.Table) -> None:
    """The starting set: the common moments of a case, in the six languages."""
    from datetime import UTC, datetime

    now = datetime(2026, 12, 6, tzinfo=UTC)
    op.bulk_insert(table, [{'texts': texts, 'created_by': None, 'retired_at': None,
                            'created_at': now, 'updated_at': now} for texts in STARTER_SET])


def downgrade() -> None:
    op.drop_index(op.f('ix_video_consultations_case_id'), table_name='video_consultations')
    op.drop_table('video_consultations')
    op.drop_table('saved_replies')
    op.drop_index('ix_emails_due', table_name='emails')
    op.drop_index(op.f('ix_emails_case_id'), table_name='emails')
    op.drop_table('emails')
    op.drop_index(op.f('ix_opinion_links_case_id'), table_name='opinion_links')
    op.drop_index(op.f('ix_opinion_links_opinion_id'), table_name='opinion_links')
    op.drop_table('opinion_links')
    op.drop_index(op.f('ix_opinions_case_id'), table_name='opinions')
    op.drop_table('opinions')
    op.drop_index(op.f('ix_quotes_case_id'), table_name='quotes')
    op.drop_table('quotes')
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('paid_elsewhere_at')
        batch.drop_column('physician_email')


# The starting set of saved replies (documents received, still missing, quote, opinion
# ready, appointment confirmed, case closed), written natively in the six languages.
STARTER_SET: list[dict[str, dict[str, str]]] = [
    {
        'ar': {
            'title': 'تم استلام الوثائق',
            'body': 'مرحبًا، لقد استلمنا وثائقكم الخاصة بالطلب {reference}. شكرًا لكم! نحن نراجعها الآن وسنعود إليكم إن كان هناك ما ينقص.',
        },
        'fr': {
            'title': 'Documents reçus',
            'body': "Bonjour, nous avons bien reçu vos documents pour la demande {reference}. Merci\xa0! Nous les vérifions et reviendrons vers vous s'il manque quelque chose.",
        },
        'en': {
            'title': 'Documents received',
            'body': 'Hello, we have received your documents for request {reference}. Thank you! We are checking them and will come back to you if anything is missing.',
        },
        'nl': {
            'title': 'Documenten ontvangen',
            'body': 'Goedendag, wij hebben uw documenten voor aanvraag {reference} goed ontvangen. Dank u! Wij kijken ze na en laten het u weten als er iets ontbreekt.',
        },
        'ru': {
            'title': 'Документы получены',
            'body': 'Здравствуйте! Мы получили ваши документы по заявке {reference}. Спасибо! Мы их проверяем и сообщим вам, если чего-то не хватает.',
        },
        'tr': {
            'title': 'Belgeler alındı',
            'body': 'Merhaba, {reference} numaralı başvurunuz için belgelerinizi aldık. Teşekkür ederiz! Belgeleri inceliyoruz; eksik bir şey olursa size bildireceğiz.',
        },
    },
    {
        'ar': {
            'title': 'وثائق لا تزال ناقصة',
            'body': 'مرحبًا، لإعداد الرأي الخاص بالطلب {reference} لا يزال الأطباء الاختصاصيون بحاجة إلى:\n{missing}\nيمكنكم إرسالها عبر رابط التحميل الخاص بكم أو هنا في المحادثة. اكتبوا «رابط جديد» إذا لم يعد رابطكم يعمل.',
        },
        'fr': {
            'title': 'Documents encore manquants',
            'body': "Bonjour, pour préparer l'avis de la demande {reference}, les spécialistes ont encore besoin de\xa0:\n{missing}\nVous pouvez les envoyer par votre lien d'envoi ou ici dans la conversation. Écrivez «\xa0nouveau lien\xa0» si votre lien ne fonctionne plus.",
        },
        'en': {
            'title': 'Documents still missing',
            'body': 'Hello, to prepare the opinion for request {reference} the specialists still need:\n{missing}\nYou can send them through your upload link or here in the chat. Write “new link” if your link no longer works.',
        },
        'nl': {
            'title': 'Documenten die nog ontbreken',
            'body': 'Goedendag, om het advies voor aanvraag {reference} voor te bereiden hebben de specialisten nog nodig:\n{missing}\nU kunt ze via uw uploadlink of hier in de chat sturen. Schrijf ‘nieuwe link’ als uw link niet meer werkt.',
        },
        'ru': {
            'title': 'Документы, которых ещё не хватает',
            'body': 'Здравствуйте! Чтобы подготовить заключение по заявке {reference}, специалистам ещё нужны:\n{missing}\nВы можете отправить их по своей ссылке для загрузки или здесь, в чате. Напишите «новая ссылка», если ваша ссылка больше не работает.',
        },
        'tr': {
            'title': 'Hâlâ eksik belgeler',
            'body': 'Merhaba, {reference} numaralı başvurunun görüşünü hazırlamak için uzmanların hâlâ şunlara ihtiyacı var:\n{missing}\nBunları yükleme bağlantınızdan veya buradan, sohbetten gönderebilirsiniz. Bağlantınız artık çalışmıyorsa “yeni bağlantı” yazınız.',
        },
    },
    {
        'ar': {
            'title': 'تم إرسال عرض السعر',
            'body': 'مرحبًا، لقد أرسلنا إليكم السعر المؤكَّد للطلب {reference}. يُرجى الرد باستخدام الأزرار الموجودة أسفل تلك الرسالة؛ وسيبدأ الأطباء الاختصاصيون عملهم فور موافقتكم.',
        },
        'fr': {
            'title': 'Devis envoyé',
            'body': "Bonjour, nous vous avons envoyé le prix confirmé de la demande {reference}. Répondez avec les boutons sous ce message\xa0; les spécialistes commencent dès que vous l'avez accepté.",
        },
        'en': {
            'title': 'Quote sent',
            'body': 'Hello, we have sent you the confirmed price for request {reference}. Please answer with the buttons under that message; the specialists start once you have accepted it.',
        },
        'nl': {
            'title': 'Offerte verstuurd',
            'body': 'Goedendag, wij hebben u de bevestigde prijs voor aanvraag {reference} gestuurd. Antwoord met de knoppen onder dat bericht; de specialisten beginnen zodra u hebt aanvaard.',
        },
        'ru': {
            'title': 'Предложение отправлено',
            'body': 'Здравствуйте! Мы отправили вам подтверждённую стоимость по заявке {reference}. Пожалуйста, ответьте кнопками под тем сообщением; специалисты начнут работу, как только вы его примете.',
        },
        'tr': {
            'title': 'Fiyat teklifi gönderildi',
            'body': 'Merhaba, {reference} numaralı başvurunuz için onaylanan fiyatı size gönderdik. Lütfen o mesajın altındaki düğmelerle yanıtlayınız; uzmanlar siz kabul eder etmez çalışmaya başlayacaktır.',
        },
    },
    {
        'ar': {
            'title': 'الرأي جاهز',
            'body': 'مرحبًا، الرأي المكتوب الخاص بالطلب {reference} جاهز. لقد تلقيتم رابطكم الشخصي في هذه المحادثة؛ اكتبوا «رابط جديد» إذا لم يعد يعمل. يمكنكم إرسال أسئلتكم حوله إلينا خلال الأيام الثلاثين القادمة.',
        },
        'fr': {
            'title': 'Avis prêt',
            'body': "Bonjour, l'avis écrit de la demande {reference} est prêt. Vous avez reçu votre lien personnel dans cette conversation\xa0; écrivez «\xa0nouveau lien\xa0» s'il ne fonctionne plus. Vous pouvez nous poser vos questions à son sujet pendant les 30 prochains jours.",
        },
        'en': {
            'title': 'Opinion ready',
            'body': 'Hello, the written opinion for request {reference} is ready. You have received your personal link in this chat; write “new link” if it no longer works. You may send us your questions about it during the next 30 days.',
        },
        'nl': {
            'title': 'Advies klaar',
            'body': 'Goedendag, het schriftelijke advies voor aanvraag {reference} is klaar. U hebt uw persoonlijke link in deze chat ontvangen; schrijf ‘nieuwe link’ als hij niet meer werkt. U kunt ons de komende 30 dagen uw vragen erover stellen.',
        },
        'ru': {
            'title': 'Заключение готово',
            'body': 'Здравствуйте! Письменное заключение по заявке {reference} готово. Персональная ссылка отправлена вам в этот чат; напишите «новая ссылка», если она больше не работает. В течение 30 дней вы можете задавать нам вопросы по заключению.',
        },
        'tr': {
            'title': 'Görüş hazır',
            'body': 'Merhaba, {reference} numaralı başvurunun yazılı görüşü hazır. Kişisel bağlantınız bu sohbette size gönderildi; artık çalışmıyorsa “yeni bağlantı” yazınız. Önümüzdeki 30 gün boyunca görüşle ilgili sorularınızı bize iletebilirsiniz.',
        },
    },
    {
        'ar': {
            'title': 'تم تأكيد الموعد',
            'body': 'مرحبًا، نؤكد لكم موعد الاستشارة المرئية الخاصة بالطلب {reference}. ستتلقون تاريخها ووقتها بحسب منطقتكم الزمنية ورابط الاتصال في رسالة منفصلة.',
        },
        'fr': {
            'title': 'Rendez-vous confirmé',
            'body': 'Bonjour, nous confirmons la consultation vidéo de la demande {reference}. Vous recevrez sa date, son heure dans votre fuseau horaire et le lien de connexion dans un message séparé.',
        },
        'en': {
            'title': 'Appointment confirmed',
            'body': 'Hello, we confirm the video consultation for request {reference}. You will receive its date, its time in your time zone and the connection link in a separate message.',
        },
        'nl': {
            'title': 'Afspraak bevestigd',
            'body': 'Goedendag, wij bevestigen de videoconsultatie voor aanvraag {reference}. U ontvangt de datum, het tijdstip in uw tijdzone en de verbindingslink in een afzonderlijk bericht.',
        },
        'ru': {
            'title': 'Консультация подтверждена',
            'body': 'Здравствуйте! Подтверждаем видеоконсультацию по заявке {reference}. Дату, время по вашему часовому поясу и ссылку для подключения вы получите отдельным сообщением.',
        },
        'tr': {
            'title': 'Randevu onaylandı',
            'body': 'Merhaba, {reference} numaralı başvurunuz için görüntülü görüşmeyi onaylıyoruz. Tarihini, kendi saat diliminize göre saatini ve bağlantı linkini ayrı bir mesajla alacaksınız.',
        },
    },
    {
        'ar': {
            'title': 'تم إغلاق الملف',
            'body': 'مرحبًا، لقد أغلقنا الطلب {reference} اليوم، {today}. شكرًا لثقتكم. تبقى جميع البيانات مشفّرة إلى أن تُحذف بعد انتهاء مدة الحفظ؛ ويمكنكم طلب حذفها قبل ذلك بكتابة «احذف بياناتي».',
        },
        'fr': {
            'title': 'Dossier clôturé',
            'body': "Bonjour, nous avons clôturé la demande {reference} aujourd'hui, le {today}. Merci de votre confiance. Tout reste chiffré jusqu'à sa suppression à la fin de la durée de conservation\xa0; vous pouvez demander une suppression plus tôt en écrivant «\xa0effacer mes données\xa0».",
        },
        'en': {
            'title': 'Case closed',
            'body': 'Hello, we have closed request {reference} today, {today}. Thank you for your trust. Everything is kept encrypted until it is erased after the retention period; you can ask us to erase it earlier by writing “erase my data”.',
        },
        'nl': {
            'title': 'Dossier afgesloten',
            'body': 'Goedendag, wij hebben aanvraag {reference} vandaag, {today}, afgesloten. Dank u voor uw vertrouwen. Alles blijft versleuteld bewaard tot het na de bewaartermijn wordt gewist; u kunt ons vragen het eerder te wissen door ‘verwijder mijn gegevens’ te schrijven.',
        },
        'ru': {
            'title': 'Дело закрыто',
            'body': 'Здравствуйте! Сегодня, {today}, мы закрыли заявку {reference}. Спасибо за доверие. Все данные хранятся в зашифрованном виде до удаления по окончании срока хранения; вы можете попросить удалить их раньше, написав «удалить мои данные».',
        },
        'tr': {
            'title': 'Dosya kapatıldı',
            'body': 'Merhaba, {reference} numaralı başvuruyu bugün, {today} tarihinde kapattık. Güveniniz için teşekkür ederiz. Tüm veriler saklama süresinin sonunda silinene kadar şifreli olarak tutulur; “verilerimi sil” yazarak daha önce silinmesini isteyebilirsiniz.',
        },
    },
]
