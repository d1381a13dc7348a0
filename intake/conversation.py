"""The conversation engine: one family message in, replies and domain events out.

Pure and deterministic: the state is a plain value stored by the application between
messages, `today` and the label translator are arguments, and nothing here touches I/O.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from intake import answers as parse
from intake import events as ev
from intake.commands import (
    Command,
    command_help,
    command_word,
    match_command,
    match_language_name,
    slash_name,
)
from intake.deadlines import DEFAULT_POLICY, SlaPolicy
from intake.prompts import N_, LanguageName, Lines, Option, Prompt, Running, Territory, Text
from intake.questionnaire import (
    CONSENT_VERSION,
    FIRST_STEP,
    STEP_BY_KEY,
    YES_NO_OPTIONS,
    Answers,
    Step,
    StepKind,
    applicable_steps,
    first_unanswered,
    language_options,
    next_step,
    prune,
    question_of,
    report_language_options,
)
from intake.quotes import QUOTE_OPTIONS, QuoteAnswer, answer_of, quote_reminder
from intake.records_letter import clean_hospital, letter_details
from intake.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

Translate = Callable[[Text, str], str]
SUMMARY_VALUE_LIMIT = 200
SLASH_WORD = re.compile(r"^/\w+(@\w+)?$")


class Phase(StrEnum):
    """Where the conversation stands."""

    LANGUAGE = "language"
    CONSENT = "consent"
    QUESTIONS = "questions"
    REVIEW = "review"
    EDIT_PICK = "edit_pick"
    CONFIRM_ERASE = "confirm_erase"
    SUBMITTED = "submitted"
    ENDED = "ended"
    LETTER_LANGUAGE = "letter_language"
    LETTER_HOSPITAL = "letter_hospital"


@dataclass
class Conversation:
    """The state of one family's conversation, stored as JSON between messages."""

    phase: Phase = Phase.LANGUAGE
    language: str | None = None
    step: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    consent_version: str | None = None
    resume_phase: Phase | None = None
    erase_resume: Phase | None = None
    handoff: bool = False
    editing: bool = False
    quote_pending: bool = False
    letter_resume: Phase | None = None
    letter_language: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for storage."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Conversation:
        """Rebuild a stored conversation."""
        resume = data.get("resume_phase")
        erase_resume = data.get("erase_resume")
        letter_resume = data.get("letter_resume")
        return cls(
            phase=Phase(data.get("phase", Phase.LANGUAGE)),
            language=data.get("language"),
            step=data.get("step"),
            answers=dict(data.get("answers", {})),
            history=list(data.get("history", [])),
            consent_version=data.get("consent_version"),
            resume_phase=Phase(resume) if resume else None,
            erase_resume=Phase(erase_resume) if erase_resume else None,
            handoff=bool(data.get("handoff", False)),
            editing=bool(data.get("editing", False)),
            quote_pending=bool(data.get("quote_pending", False)),
            letter_resume=Phase(letter_resume) if letter_resume else None,
            letter_language=data.get("letter_language"),
        )

    @property
    def locale(self) -> str:
        """The language replies are rendered in."""
        return self.language or DEFAULT_LANGUAGE


@dataclass(frozen=True)
class UserInput:
    """A family message reduced to what the engine reads."""

    text: str | None = None
    choice: str | None = None
    choices: tuple[str, ...] | None = None
    files: int = 0


@dataclass(frozen=True)
class Context:
    """What the engine needs from outside: the date and a way to read labels in a language."""

    today: date
    translate: Translate
    phone_region: str | None = None
    follow_up_until: date | None = None  # the last day of the follow-up period, if open


@dataclass
class Outcome:
    """The new state, the replies to send, and the events for the application."""

    conversation: Conversation
    prompts: list[Prompt] = field(default_factory=list)
    events: list[ev.Event] = field(default_factory=list)


SUMMARY_LABELS: dict[str, str] = {
    "role": N_("Writing"),
    "patient_name": N_("Patient"),
    "patient_birth_date": N_("Date of birth"),
    "patient_sex": N_("Sex"),
    "patient_country": N_("Country of residence"),
    "specialty": N_("Medical area"),
    "specialty_other": N_("Area or condition"),
    "situation": N_("Situation"),
    "local_proposal": N_("Proposed so far"),
    "questions": N_("Your questions"),
    "goals": N_("What matters to you"),
    "urgency": N_("Urgency"),
    "service": N_("Service"),
    "report_language": N_("Language of the written opinion"),
    "treatment_history": N_("Treatments so far"),
    "physician_name": N_("Treating physician"),
    "physician_hospital": N_("Hospital"),
    "physician_contact": N_("Physician's contact"),
    "share_with_physician": N_("Send the opinion to the physician"),
}

CONFIRM_OPTIONS = (
    Option("confirm", Text(N_("Yes, send my request"))),
    Option("edit", Text(N_("Change an answer"))),
)


def start(language_hint: str | None = None) -> Outcome:
    """A new conversation: greet and ask for the language, in the best-guess language."""
    conversation = Conversation(language=language_hint if language_hint in LANGUAGES else None)
    outcome = Outcome(conversation)
    outcome.prompts.append(
        Prompt.say(
            "Hello! We help families obtain a second medical opinion from specialists "
            "of Belgian university hospitals. You are writing to our automated assistant; "
            "our medical coordinators read this conversation and take over whenever needed."
        )
    )
    outcome.prompts.append(_language_question())
    return outcome


def handle(conversation: Conversation, message: UserInput, ctx: Context) -> Outcome:
    """Apply one family message to the conversation."""
    state = copy.deepcopy(conversation)
    if state.phase is Phase.ENDED:
        return start(state.language)
    out = Outcome(state)
    text = message.text.strip() if message.text else ""

    if text:
        command = match_command(text)
        if command is Command.BACK and state.phase is Phase.REVIEW and not text.startswith("/"):
            # At the summary, "edit" / "modifier" mean "change an answer", not "go back".
            _review_phase(out, UserInput(choice="edit"), "", ctx)
            return out
        if command is not None:
            _command(out, command)
            return out
        if SLASH_WORD.match(text) and not parse.parse_skip(text, state.locale):
            out.prompts.append(
                Prompt(Text.of("We do not recognise the command {command}. Write "
                               "\u201c{help}\u201d or /help to see the commands.",
                               command=text[:40],
                               help=command_word(Command.HELP, state.locale)))
            )
            out.prompts.extend(_current(state))
            return out
    if state.quote_pending and state.phase is Phase.SUBMITTED and _quote_phase(
        out, message, text, ctx
    ):
        return out
    if state.phase in LETTER_PHASES:
        # The letter's two questions are answered even while a coordinator has taken over:
        # the family asked for them a moment ago.
        _PHASES[state.phase](out, message, text, ctx)
        return out
    if state.handoff:
        out.events.append(ev.MessageForCoordinator())
        return out
    if text:
        language = match_language_name(text)
        if language is not None and _accepts_language_switch(state, text):
            _switch_language(out, language)
            return out
    if message.files and not text and message.choice is None and not message.choices:
        if state.phase is Phase.SUBMITTED:
            out.events.append(ev.MessageForCoordinator())
            return out
        out.prompts.append(
            Prompt.say(
                "We received your file, but this question needs a typed answer. You can send "
                "your documents once the questions are done."
            )
        )
        out.prompts.extend(_current(state))
        return out

    handler = _PHASES[state.phase]
    handler(out, message, text, ctx)
    return out


def current_prompts(conversation: Conversation) -> list[Prompt]:
    """What the family is being asked right now (to repeat after a restart or a command)."""
    return _current(conversation)


# -- phases -----------------------------------------------------------------------------------


def _language_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> None:
    chosen = message.choice if message.choice in LANGUAGES else None
    if chosen is None and text:
        chosen = match_language_name(text)
        if chosen is None:
            result = parse.parse_choice(text, _synonyms(language_options(), out, ctx))
            chosen = result.value if isinstance(result, parse.Valid) else None
    if chosen is None:
        out.prompts.append(Prompt.say("Please choose a language from the list."))
        out.prompts.append(_language_question())
        return
    _set_language(out, chosen)


def _consent_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> None:
    answer = _yes_no(message, text, out.conversation.locale)
    state = out.conversation
    if answer is None:
        out.prompts.append(Prompt.say("Please answer yes or no."))
        out.prompts.append(_consent_question(state.locale))
    elif answer:
        state.consent_version = CONSENT_VERSION
        out.events.append(ev.ConsentGiven(CONSENT_VERSION))
        state.phase = Phase.QUESTIONS
        state.step = FIRST_STEP
        out.prompts.append(
            Prompt(Text.of(
                "Thank you. We will now ask you some questions; it takes about ten minutes. "
                "Write \u201c{back}\u201d to change your previous answer, or \u201c{help}\u201d "
                "at any time to see what else you can write.",
                back=command_word(Command.BACK, state.locale),
                help=command_word(Command.HELP, state.locale),
            ))
        )
        out.prompts.extend(_current(state))
    else:
        out.events.append(ev.ConsentRefused())
        out.conversation = Conversation(phase=Phase.ENDED, language=state.language)
        out.prompts.append(
            Prompt.say(
                "We respect your decision. Nothing you wrote has been kept. If you change "
                "your mind, just write to us again."
            )
        )


def _questions_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> None:
    state = out.conversation
    step = STEP_BY_KEY[state.step or FIRST_STEP]
    result = _read_answer(step, message, text, out, ctx)
    if isinstance(result, parse.Invalid):
        out.prompts.append(Prompt(result.reason))
        out.prompts.append(_question(step, state.answers))
        return
    state.answers[step.key] = result.value
    state.answers = prune(state.answers)
    state.history = [key for key in state.history if key in state.answers]
    if step.key in state.history:
        state.history.remove(step.key)
    state.history.append(step.key)
    following = (
        first_unanswered(state.answers)
        if state.editing
        else next_step(state.answers, after=step.key) or first_unanswered(state.answers)
    )
    if following is None:
        _to_review(out)
    else:
        state.step = following.key
        out.prompts.append(_question(following, state.answers))


def _review_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> None:
    state = out.conversation
    choice = message.choice or _choice_key(text, CONFIRM_OPTIONS, out, ctx)
    if choice is None:
        yes = _yes_no(message, text, state.locale)
        choice = "confirm" if yes else ("edit" if yes is False else None)
    if choice == "confirm":
        state.phase = Phase.SUBMITTED
        state.step = None
        state.editing = False
        out.events.append(ev.IntakeCompleted(dict(state.answers)))
    elif choice == "edit":
        state.phase = Phase.EDIT_PICK
        out.prompts.append(_edit_question(state))
    else:
        out.prompts.append(Prompt.say("Please confirm, or choose to change an answer."))
        out.prompts.append(_summary(state))


def _edit_pick_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> None:
    state = out.conversation
    options = _edit_options(state)
    key = message.choice if message.choice in {o.key for o in options} else None
    if key is None and text:
        key = _choice_key(text, options, out, ctx)
    if key is None:
        out.prompts.append(Prompt.say("Please choose the answer you want to change."))
        out.prompts.append(_edit_question(state))
        return
    state.phase = Phase.QUESTIONS
    state.step = key
    state.editing = True
    out.prompts.append(_question(STEP_BY_KEY[key], state.answers))


def _confirm_erase_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> None:
    state = out.conversation
    answer = _yes_no(message, text, state.locale)
    if answer is None:
        out.prompts.append(Prompt.say("Please answer yes or no."))
        out.prompts.append(_erase_question())
    elif answer:
        out.events.append(ev.ErasureConfirmed())
        out.conversation = Conversation(phase=Phase.ENDED, language=state.language)
        out.prompts.append(
            Prompt.say(
                "Everything you sent us has been erased and your request is withdrawn. "
                "Thank you for contacting us."
            )
        )
    else:
        state.phase = state.erase_resume or Phase.QUESTIONS
        state.erase_resume = None
        out.prompts.append(Prompt.say("Nothing has been erased. Let us continue."))
        out.prompts.extend(_current(state))


def _submitted_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> None:
    out.events.append(ev.MessageForCoordinator())
    if ctx.follow_up_until is not None and ctx.today <= ctx.follow_up_until:
        out.prompts.append(follow_up_acknowledgement(ctx.follow_up_until))
    else:
        out.prompts.append(
            Prompt.say(
                "Thank you, your message has been added to your file. A coordinator will read "
                "it."
            )
        )
    if out.conversation.quote_pending:
        out.prompts.append(quote_reminder())


def follow_up_acknowledgement(until: date, policy: SlaPolicy = DEFAULT_POLICY) -> Prompt:
    """A question during the follow-up period goes straight to the coordinators: the family
    learns when to expect the answer and until when it may ask."""
    days = policy.follow_up_answer_working_days
    return Prompt(Text.counted(
        "Thank you for your question. It has gone straight to your coordinator, who will "
        "answer within {count} working day. You can send questions about the opinion until "
        "{until}.",
        "Thank you for your question. It has gone straight to your coordinator, who will "
        "answer within {count} working days. You can send questions about the opinion until "
        "{until}.", days, until=until))


def _quote_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> bool:
    """A quote waits for an answer: a tapped option always counts (even while a coordinator
    has taken over); a typed one, a number or yes / no, only while the assistant answers."""
    state = out.conversation
    answer = answer_of(message.choice)
    if answer is None and not state.handoff and not message.files:
        key = _choice_key(text, QUOTE_OPTIONS, out, ctx)
        answer = answer_of(key)
        if answer is None and key is None and text:
            yes = _yes_no(message, text, state.locale)
            if yes is not None:
                answer = QuoteAnswer.ACCEPTED if yes else QuoteAnswer.DECLINED
    if answer is None:
        return False
    state.quote_pending = False
    accepted = answer is QuoteAnswer.ACCEPTED
    out.events.append(ev.QuoteAnswered(accepted))
    if accepted:
        out.prompts.append(Prompt.say(
            "Thank you, you have accepted the quote. Your file now goes to the specialists; "
            "we will tell you when the written opinion is ready."))
    else:
        out.prompts.append(Prompt.say(
            "Thank you, we have noted that you decline the quote. Your coordinator will "
            "contact you to discuss it."))
    return True


_PHASES: dict[Phase, Callable[[Outcome, UserInput, str, Context], None]] = {
    Phase.LANGUAGE: _language_phase,
    Phase.CONSENT: _consent_phase,
    Phase.QUESTIONS: _questions_phase,
    Phase.REVIEW: _review_phase,
    Phase.EDIT_PICK: _edit_pick_phase,
    Phase.CONFIRM_ERASE: _confirm_erase_phase,
    Phase.SUBMITTED: _submitted_phase,
}


# -- commands ---------------------------------------------------------------------------------


def _command(out: Outcome, command: Command) -> None:
    state = out.conversation
    if command is Command.HELP:
        lines = tuple(
            # TRANSLATORS: {word} is the command word in your language, {slash} its /form.
            Text.of("\u201c{word}\u201d or {slash} \u2014 {meaning}",
                    word=command_word(c, state.locale), slash="/" + slash_name(c),
                    meaning=meaning)
            for c, meaning in command_help()
        )
        out.prompts.append(
            Prompt(Text.of("You can write these at any time:\n{commands}", commands=Lines(lines)))
        )
        out.prompts.extend(_current(state))
    elif command is Command.LANGUAGE:
        if state.phase is not Phase.LANGUAGE:
            state.resume_phase = state.phase
        state.phase = Phase.LANGUAGE
        out.prompts.append(_language_question())
    elif command is Command.STATUS:
        out.events.append(ev.StatusRequested())
        if state.phase is Phase.QUESTIONS:
            done = sum(1 for s in applicable_steps(state.answers) if s.key in state.answers)
            total = len(applicable_steps(state.answers))
            out.prompts.append(
                Prompt(Text.counted("Your request is not sent yet: {done} of {count} question "
                                    "answered.",
                                    "Your request is not sent yet: {done} of {count} questions "
                                    "answered.", total, done=done))
            )
        if state.phase is not Phase.SUBMITTED:
            out.prompts.extend(_current(state))
    elif command is Command.HUMAN:
        state.handoff = True
        out.events.append(ev.HandoffRequested())
        out.prompts.append(
            Prompt.say(
                "We have asked a coordinator to join this conversation. They will answer you "
                "here, usually within one working day. Nothing you write here will be lost."
            )
        )
    elif command is Command.BACK:
        _back(out)
    elif command is Command.RESTART:
        _restart(out)
    elif command is Command.STOP_REMINDERS:
        out.events.append(ev.RemindersStopped())
        out.prompts.append(
            Prompt.say(
                "Understood: we will not send you reminders any more. Your coordinator can "
                "still write to you."
            )
        )
        out.prompts.extend(_current(state))
    elif command is Command.ERASE:
        if state.phase is not Phase.CONFIRM_ERASE:
            state.erase_resume = state.phase
        state.phase = Phase.CONFIRM_ERASE
        out.prompts.append(_erase_question())
    elif command is Command.PRICES:
        out.events.append(ev.PricesRequested())
        out.prompts.extend(_current(state))
    elif command is Command.NEW_LINK:
        if state.phase is Phase.SUBMITTED:
            out.events.append(ev.NewLinkRequested())
        else:
            out.prompts.append(
                Prompt.say(
                    "You will receive a secure link to send your documents as soon as the "
                    "questions are done."
                )
            )
            out.prompts.extend(_current(state))
    elif command is Command.LETTER:
        _start_letter(out)


def _back(out: Outcome) -> None:
    state = out.conversation
    if state.phase in (Phase.QUESTIONS, Phase.REVIEW, Phase.EDIT_PICK) and state.history:
        previous = state.history.pop()
        state.phase = Phase.QUESTIONS
        state.step = previous
        state.editing = False
        out.prompts.append(_question(STEP_BY_KEY[previous], state.answers))
    elif state.phase is Phase.CONSENT or (state.phase is Phase.QUESTIONS and not state.history):
        state.phase = Phase.LANGUAGE
        state.resume_phase = None
        out.prompts.append(_language_question())
    else:
        out.prompts.append(Prompt.say("There is no earlier answer to change here."))
        out.prompts.extend(_current(state))


def _restart(out: Outcome) -> None:
    state = out.conversation
    fresh = Conversation(language=state.language, consent_version=state.consent_version)
    if fresh.consent_version is None:
        fresh.phase = Phase.LANGUAGE if fresh.language is None else Phase.CONSENT
    else:
        fresh.phase = Phase.QUESTIONS
        fresh.step = FIRST_STEP
    out.conversation = fresh
    out.prompts.append(Prompt.say("Let us start again from the beginning."))
    out.prompts.extend(_current(fresh))


def _accepts_language_switch(state: Conversation, text: str) -> bool:
    """A language's name is an answer, not a switch, where languages are the options; a
    two-letter code is a country where a country is asked ("FR"), so codes never switch."""
    if state.phase in (Phase.LANGUAGE, *LETTER_PHASES) or len(text.strip()) <= 3:
        return False
    if state.phase is Phase.QUESTIONS and state.step:
        return not _is_language_step(STEP_BY_KEY[state.step])
    return True


def _is_language_step(step: Step) -> bool:
    return bool(step.options) and all(option.key in LANGUAGES for option in step.options)


def _switch_language(out: Outcome, language: str) -> None:
    state = out.conversation
    state.resume_phase = state.phase
    _set_language(out, language)


def _set_language(out: Outcome, language: str) -> None:
    state = out.conversation
    state.language = language
    out.events.append(ev.LanguageChosen(language))
    out.prompts.append(Prompt.say("Thank you. We will continue in English."))
    resume = state.resume_phase
    state.resume_phase = None
    if state.consent_version is None:
        state.phase = Phase.CONSENT
    elif resume is not None and resume not in (Phase.LANGUAGE, Phase.ENDED):
        state.phase = resume
    else:
        state.phase = Phase.QUESTIONS
        state.step = state.step or FIRST_STEP
    out.prompts.extend(_current(state))


# -- reading answers --------------------------------------------------------------------------


def _read_answer(
    step: Step, message: UserInput, text: str, out: Outcome, ctx: Context
) -> parse.Parsed[Any]:
    keys = {option.key for option in step.options}
    if step.kind is StepKind.MULTI:
        if message.choices is not None:
            return _valid_choices(step, message.choices)
        if message.choice is not None:
            return _valid_choices(step, (message.choice,))
    elif message.choice is not None:
        if message.choice in keys:
            if step.kind is StepKind.YES_NO:
                return parse.Valid(message.choice == "yes")
            return parse.Valid(message.choice)
        return parse.Invalid(Text.of("Please choose one of the options."))
    if text and parse.parse_skip(text, out.conversation.locale):
        if step.optional:
            return parse.Valid(None)
        return parse.Invalid(Text.of(
            "This question cannot be skipped: the specialists need the answer."))
    if not text:
        return parse.Invalid(Text.of("Please write your answer in words."))
    language = out.conversation.locale
    kind = step.kind
    result: parse.Parsed[Any]
    if kind is StepKind.CHOICE:
        named = match_language_name(text) if _is_language_step(step) else None
        result = (
            parse.Valid(named) if named is not None
            else parse.parse_choice(text, _synonyms(step.options, out, ctx))
        )
    elif kind is StepKind.MULTI:
        multi = parse.parse_multi_choice(
            text, _synonyms(step.options, out, ctx), exclusive=step.exclusive
        )
        result = parse.Valid(list(multi.value)) if isinstance(multi, parse.Valid) else multi
    elif kind is StepKind.YES_NO:
        result = parse.parse_yes_no(text, language)
    elif kind is StepKind.DATE:
        parsed_date = parse.parse_date(text, ctx.today)
        result = (
            parse.Valid(parsed_date.value.isoformat())
            if isinstance(parsed_date, parse.Valid)
            else parsed_date
        )
    elif kind is StepKind.COUNTRY:
        result = parse.parse_country(text)
    elif kind is StepKind.CONTACT:
        country = out.conversation.answers.get("patient_country")
        example = parse.phone_example(
            country if isinstance(country, str) else ctx.phone_region, language
        )
        result = parse.parse_contact(text, ctx.phone_region, example)
    elif kind is StepKind.NAME:
        result = parse.parse_name(text)
    else:
        result = parse.parse_free_text(text, max_length=step.max_length)
    return result


def _valid_choices(step: Step, choices: tuple[str, ...]) -> parse.Parsed[Any]:
    keys = [option.key for option in step.options]
    picked = [key for key in keys if key in set(choices)]
    if not picked or len(picked) != len(set(choices)):
        return parse.Invalid(Text.of("Please choose one or more of the options."))
    if len(picked) > 1 and step.exclusive.intersection(picked):
        return parse.Invalid(
            Text.of("\u201cNone of these\u201d cannot be combined with other answers.")
        )
    return parse.Valid(list(picked))


def _synonyms(
    options: tuple[Option, ...], out: Outcome, ctx: Context
) -> list[tuple[str, list[str]]]:
    language = out.conversation.locale
    return [
        (
            option.key,
            [ctx.translate(option.label, language), ctx.translate(option.label, "en"),
             option.key],
        )
        for option in options
    ]


def _choice_key(text: str, options: tuple[Option, ...], out: Outcome, ctx: Context) -> str | None:
    if not text:
        return None
    result = parse.parse_choice(text, _synonyms(options, out, ctx))
    return result.value if isinstance(result, parse.Valid) else None


def _yes_no(message: UserInput, text: str, language: str) -> bool | None:
    if message.choice in ("yes", "no"):
        return message.choice == "yes"
    if not text:
        return None
    result = parse.parse_yes_no(text, language)
    return result.value if isinstance(result, parse.Valid) else None


# -- what to ask ------------------------------------------------------------------------------


def _current(state: Conversation) -> list[Prompt]:
    if state.phase is Phase.LANGUAGE:
        return [_language_question()]
    if state.phase is Phase.CONSENT:
        return [_consent_question(state.locale)]
    if state.phase is Phase.QUESTIONS:
        return [_question(STEP_BY_KEY[state.step or FIRST_STEP], state.answers)]
    if state.phase is Phase.REVIEW:
        return [_summary(state)]
    if state.phase is Phase.EDIT_PICK:
        return [_edit_question(state)]
    if state.phase is Phase.CONFIRM_ERASE:
        return [_erase_question()]
    if state.phase is Phase.SUBMITTED and state.quote_pending:
        return [quote_reminder()]
    if state.phase is Phase.LETTER_LANGUAGE:
        return [_letter_language_question()]
    if state.phase is Phase.LETTER_HOSPITAL:
        return [_letter_hospital_question()]
    return []


def _language_question() -> Prompt:
    return Prompt(Text.of("Which language would you like to use?"), language_options())


def _consent_question(language: str) -> Prompt:
    return Prompt(
        Text.of(
            "Before we start, we need your consent. To prepare a second opinion, we process "
            "health information about the patient for this request only. It is sent to "
            "Belgium, where only our medical coordinators and the university-hospital "
            "specialists who review the request read it. It is stored encrypted and deleted "
            "once the request is closed. You can ask us to erase it at any time by writing "
            "\u201c{erase}\u201d. Do you agree to the processing of this health information "
            "for your request? (consent version {version})",
            erase=command_word(Command.ERASE, language),
            version=CONSENT_VERSION,
        ),
        YES_NO_OPTIONS,
    )


def _erase_question() -> Prompt:
    return Prompt(
        Text.of(
            "This will permanently erase everything you have sent us, including your answers "
            "and documents, and withdraw your request. Do you want to erase everything?"
        ),
        YES_NO_OPTIONS,
    )


def _question(step: Step, answers: Answers) -> Prompt:
    return Prompt(question_of(step, answers), step.options, multiple=step.kind is StepKind.MULTI)


def _to_review(out: Outcome) -> None:
    state = out.conversation
    state.phase = Phase.REVIEW
    state.step = None
    state.editing = False
    out.prompts.append(_summary(state))


def _summary(state: Conversation) -> Prompt:
    lines = tuple(
        Text.of("{label}: {value}", label=Text(SUMMARY_LABELS[step.key]),
                value=_display(step, state.answers[step.key]))
        for step in applicable_steps(state.answers)
        if step.key in state.answers
    )
    return Prompt(
        Text.of("Here is a summary of your request:\n{lines}\nIs everything correct?",
                lines=Lines(lines)),
        CONFIRM_OPTIONS,
    )


def _edit_options(state: Conversation) -> tuple[Option, ...]:
    return tuple(
        Option(step.key, Text(SUMMARY_LABELS[step.key]))
        for step in applicable_steps(state.answers)
        if step.key in state.answers
    )


def _edit_question(state: Conversation) -> Prompt:
    return Prompt(Text.of("Which answer would you like to change?"), _edit_options(state))


def _display(step: Step, value: Any) -> Any:
    if value is None:
        return Text(N_("(skipped)"))
    if step.key == "report_language" and value in LANGUAGES:
        return LanguageName(value)
    if step.kind is StepKind.CHOICE:
        return next((Running(o.label) for o in step.options if o.key == value), str(value))
    if step.kind is StepKind.MULTI:
        return tuple(o.label for o in step.options if o.key in value)
    if step.kind is StepKind.YES_NO:
        return Running(Text(N_("Yes")) if value else Text(N_("No")))
    if step.kind is StepKind.DATE:
        return date.fromisoformat(value)
    if step.kind is StepKind.COUNTRY:
        return Territory(value)
    text = str(value)
    return text if len(text) <= SUMMARY_VALUE_LIMIT else text[:SUMMARY_VALUE_LIMIT] + "\u2026"


# -- the records-request letter ---------------------------------------------------------------

LETTER_PHASES = (Phase.LETTER_LANGUAGE, Phase.LETTER_HOSPITAL)


def _start_letter(out: Outcome) -> None:
    """Ask the letter's language; the patient's name and date of birth must be known."""
    state = out.conversation
    if state.phase not in (Phase.QUESTIONS, Phase.REVIEW, Phase.EDIT_PICK, Phase.SUBMITTED,
                           *LETTER_PHASES) or letter_details(state.answers) is None:
        out.prompts.append(Prompt.say(
            "We can prepare a letter asking the hospital for a copy of the records and of the "
            "scans once you have told us the patient's name and date of birth."))
        out.prompts.extend(_current(state))
        return
    if state.phase not in LETTER_PHASES:
        state.letter_resume = state.phase
    state.phase = Phase.LETTER_LANGUAGE
    state.letter_language = None
    out.prompts.append(_letter_language_question())


def _letter_language_question() -> Prompt:
    return Prompt(Text.of("We will prepare a letter asking the hospital for a copy of the "
                          "records and of the scans. In which language should it be written? "
                          "Choose the language the hospital reads."),
                  report_language_options())


def _letter_hospital_question() -> Prompt:
    return Prompt.say("What is the name of the hospital that has the records and the scans?")


def _letter_language_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> None:
    state = out.conversation
    chosen = message.choice if message.choice in LANGUAGES else None
    if chosen is None and text:
        chosen = match_language_name(text) or _choice_key(text, report_language_options(),
                                                          out, ctx)
    if chosen not in LANGUAGES:
        out.prompts.append(Prompt.say("Please choose a language from the list."))
        out.prompts.append(_letter_language_question())
        return
    state.letter_language = chosen
    known = state.answers.get("physician_hospital")
    hospital = clean_hospital(known) if isinstance(known, str) else None
    if hospital is None:
        state.phase = Phase.LETTER_HOSPITAL
        out.prompts.append(_letter_hospital_question())
        return
    _finish_letter(out, hospital)


def _letter_hospital_phase(out: Outcome, message: UserInput, text: str, ctx: Context) -> None:
    hospital = clean_hospital(text) if text and not SLASH_WORD.match(text) else None
    if hospital is None:
        out.prompts.append(Prompt.say("Please write the name of the hospital."))
        out.prompts.append(_letter_hospital_question())
        return
    _finish_letter(out, hospital)


def _finish_letter(out: Outcome, hospital: str) -> None:
    """Hand the letter to the application and go back to where the family was."""
    state = out.conversation
    out.events.append(ev.LetterRequested(state.letter_language or state.locale, hospital))
    state.phase = state.letter_resume or Phase.SUBMITTED
    state.letter_resume = None
    state.letter_language = None
    out.prompts.extend(_current(state))


_PHASES[Phase.LETTER_LANGUAGE] = _letter_language_phase
_PHASES[Phase.LETTER_HOSPITAL] = _letter_hospital_phase
