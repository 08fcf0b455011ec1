"""
Redaction of text the service writes about a job (``failureReason``) before it is logged or stored.

The service's reason is free text: it may quote a row of the deletion file (a user id) or a value it
could not read, and a user id can be any word (``alice``, ``jürgen``, ``987``, ``mary o'neil``). So
nothing is kept for not looking like an id: the text is kept word by word only where it is known to
be safe, and every other word becomes ``<redacted>`` (a run of them, one ``<redacted>``). Kept are:

* AWS resource names (``arn:…``), ``s3://`` URIs and ``https://docs.aws.amazon.com/`` links (no
  query): they name the job's own configuration and the documentation, and the reason is useless
  without them;
* the words of :data:`VOCABULARY`, the wording of Personalize's, S3's, KMS's and IAM's error
  messages (matched ignoring case; ``server-side``, ``USER_ID``, ``s3:GetObject``: a word joined
  by ``-``, ``_``, ``.``, ``/`` or ``:`` is kept when each of its parts is);
* a number (digits, with thousands commas or a decimal point) only where it cannot be an id: right
  after a position word (``row 17``, ``line 3``: :data:`POSITION_WORDS`), right before a unit
  (``300 bytes``, ``2 columns``: :data:`UNIT_WORDS`), an HTTP status code (100 to 599) after
  ``status``, ``code`` or ``HTTP``; never after ``user``, ``id`` (:data:`ID_WORDS`). Any other
  number is replaced;
* punctuation (``. , : ; ! ? ( ) [ ] { } < > " '``, dashes, ``/``, ``…``) around and between the
  words; any other symbol (``$``, an emoji) is replaced.

Any quoted text (``'…'``, ``"…"``, `````…`````, or in typographic quotes) is replaced whole, whatever
its words. Control and format characters are dropped and whitespace is folded, so a reason takes one
log line; the result is bounded to :data:`MAX_REASON_LENGTH` characters.

What still gets through, because it cannot be told from the message: a user id that is a word of the
vocabulary or a join of them (a user named ``access`` or ``user_id``), a number placed as a position or
a count (``row 17``, ``17 rows``), and an id written as an ARN or an ``s3://`` URI.
"""

from __future__ import annotations

import re
import unicodedata

#: The longest redacted reason kept, in characters (the service's own limit is not documented).
MAX_REASON_LENGTH = 500
REDACTED = "<redacted>"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: The words kept, lowercase: AWS's and Personalize's error wording. Words that are also common
#: given names (max, will, may, mark, grant, bill, june, …) are left out on purpose.
VOCABULARY = _words(
    """
    a abort aborted about above absent accept accepted access accessdenied accessdeniedexception
    accessed accessing account accountproblem accounts acl across action actions active after again
    all allaccessdisabled allow allowed allows already also amazon an and another any are aren't arn
    arns as assume assumed assumerole at attempt attempts authenticate authenticated authentication
    authorization authorizationheadermalformed authorized available aws bad badrequest based be
    because been before being below between blank block blocked bom both boundary bucket buckets but
    by byte bytes call called calling can can't cancel canceled cancelled cannot cause caused
    character characters chars check class client code column columns comma complete completed
    condition configuration configure configured connection contact contain contained containing
    contains control correct could couldn't count create created createdatadeletionjob creating
    creation credential credentials cross csv currently customer data datalocation dataset
    datasetgroup datasets datasource decode decoded decoding decrypt decrypted decryption default
    delete deleted deleting deletion delimiter denied deny describe describedatadeletionjob
    describedatasetgroup destination detail details detected did didn't different disabled distinct
    do documentation does doesn't don't done due duplicate duplicated duplicates during e.g each
    either empty enabled encode encoded encoding encrypt encrypted encryption end endpoint ensure
    error errors etc exactly exceed exceeded exceeding exceeds exception exist existing exists
    expected expects expired expiredtoken expiredtokenexception explicit export extended failed
    failure failures fault fetch fetched few field fields file files find finding first folder
    folders following for forbidden format formats found from generatedatakey get
    getbucketencryption getbucketlocation getobject group groups guide had has hasn't have haven't
    having head header headers headobject here http https i.e iam id identifier identifiers identity
    identity-based ids if implicit import in include includes including incompletesignature
    incorrect index information input inputs instead insufficient interaction interactions internal
    internalerror internalfailure internalservererror internalserverexception into invalid
    invalidaccesskeyid invalidargument invalidbucketname invalidclienttokenid invalidinputexception
    invalidnexttokenexception invalidobjectstate invalidparametervalue invalidrequest is isn't it
    it's item items its job jobs json key keys kms kms.accessdeniedexception kms.disabledexception
    kms.invalidstateexception kms.notfoundexception kmsinvalidstateexception large larger last later
    leading learn least length less limit limitexceededexception limits line lines list listbucket
    listdatadeletionjobs listobjects listobjectsv2 load loaded loading locate located location
    locations long look make malformed malformedpolicydocument managed match matches maximum message
    messages mismatch mismatched missing missingparameter more most multipart multiple must name
    names network new newline next no non non-empty none nor nosuchbucket nosuchentity nosuchkey not
    notfound null number numbers object objects occur occurred of offset on once one only operation
    operations optinrequired or other out output over owner ownership parameter parameters parse
    parsed parsing part parts passrole path pending per perform performed permanentredirect
    permission permissions personalize please policies policy position prefix previous principal
    privilege privileges problem process processed processing progress provide provided public
    putobject quota quote quoted quotes rate reached read readable reading ready reason received
    record records redirect region regions reject rejected relationship remove removed request
    requested requests requesttimeout require required requirement requires resource resource-based
    resourcealreadyexistsexception resourceinuseexception resourcenotfoundexception resources
    response retrieve retrieved retry role roles row rows run running s3 same schema see separator
    server server-side service services serviceunavailable serviceunavailableexception session
    setting settings several should shouldn't side signature signaturedoesnotmatch single size sizes
    slowdown small smaller some source space spaces specified specify sse sse-kms sse-s3 start state
    statement status still stop stopped storage sts succeeded success such support supported
    supports sure than that the their them then there these they this those throttled throttling
    throttlingexception through timed timeout to token too toomanytagsexception total trailing trust
    try two type types unable unauthorized unauthorizedoperation under unexpected unique unknown
    unreadable unrecognizedclientexception unsupported until up update updated upload uploads use
    used user users uses using utf-8 utf8 valid validation validationexception value values verified
    verify version via wait waiter waiting was wasn't were weren't what when where which while
    whitespace with within without would write writing written wrong yet
    """
)
#: Words after which a plain number is a position in the file, not an id (``row 17``).
POSITION_WORDS = _words("attempt byte character column field line offset part position record row")
#: Words before which a plain number is a count or a size, not an id (``300 bytes``).
UNIT_WORDS = _words(
    """
    attempts bytes characters chars columns days fields files gb gib hours kb kib lines mb mib minutes
    objects percent records rows seconds tb tib users
    """
)
#: Words after which a number is never kept, whatever follows (``user 987 records``).
ID_WORDS = _words("id identifier ids item items key user users")
_STATUS_WORDS = frozenset({"status", "code", "http"})

_KEPT = (
    r"arn:aws[\w-]*:[\w-]+:[\w-]*:\d*:[\w+=,.@/:*-]*\w"
    r"|s3://[^\s'\"`<>()\[\]{}]+"
    r"|https://docs\.aws\.amazon\.com/[\w./#-]*"
)
# A quote opens after a non-letter and closes before one, so the apostrophe of o'neil or can't is no quote.
_QUOTED = re.compile(
    r"""(?<!\w)'[^']*'(?!\w)|"[^"]*"|`[^`]*`""" + "|\u2018[^\u2019]*\u2019|\u201c[^\u201d]*\u201d"
)
# The text between quotes, in pieces: kept text, text already redacted, and words (which end where
# kept or redacted text begins, so ``(s3://bucket/key)`` is punctuation around a kept URI).
_PIECE = re.compile(
    rf"(?P<kept>{_KEPT})|(?P<redacted>{re.escape(REDACTED)})"
    rf"|(?P<word>(?:(?!{_KEPT}|{re.escape(REDACTED)})\S)+)"
)
_PUNCTUATION = ".,:;!?()[]{}<>\"'\u2018\u2019\u201c\u201d-\u2013\u2014/\u2026"
_JOINERS = re.compile(r"[-_./:]")
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?")
_REDACTED_RUN = re.compile(rf"{re.escape(REDACTED)}(?:\s*{re.escape(REDACTED)})+")


def redact_failure_reason(reason: object) -> str | None:
    """
    Make a job's ``failureReason`` safe to log and store.

    :param reason: the service's text; ``None`` stays ``None``.
    :return: the text bounded to :data:`MAX_REASON_LENGTH` characters, with every word that is not
        known AWS wording, punctuation, a position or count, an ARN, an ``s3://`` URI or an AWS
        documentation link replaced by ``<redacted>`` (see the module's docstring).
    """
    if reason is None:
        return None
    text = "".join(char for char in str(reason) if unicodedata.category(char)[0] != "C" or char.isspace())
    text = " ".join(text[: 4 * MAX_REASON_LENGTH].split())
    text = _REDACTED_RUN.sub(REDACTED, "".join(_redact_outside_quotes(text)))
    if len(text) > MAX_REASON_LENGTH:
        text = text[: MAX_REASON_LENGTH - 1] + "…"
    return text


def _redact_outside_quotes(text: str) -> list[str]:
    """Redact ``text`` outside its kept parts; quoted text becomes one ``<redacted>``."""
    pieces: list[str] = []
    position = 0
    for quoted in _QUOTED.finditer(text):
        pieces.append(_redact_words(text[position : quoted.start()]))
        pieces.append(REDACTED)
        position = quoted.end()
    pieces.append(_redact_words(text[position:]))
    return pieces


def _redact_words(text: str) -> str:
    """Redact the words of ``text``, which holds no quote; ARNs, URIs and ``<redacted>`` stay."""
    pieces = list(_PIECE.finditer(text))
    out: list[str] = []
    position = 0
    for index, piece in enumerate(pieces):
        out.append(text[position : piece.start()])
        position = piece.end()
        if piece.lastgroup != "word":
            out.append(piece.group())
            continue
        # Neighbours count only when a space, not punctuation or a quote, separates them.
        previous = (
            pieces[index - 1].group() if index and pieces[index - 1].end() + 1 == piece.start() else None
        )
        following = (
            pieces[index + 1].group()
            if index + 1 < len(pieces) and piece.end() + 1 == pieces[index + 1].start()
            else None
        )
        out.append(_redact_word(piece.group(), previous, following))
    out.append(text[position:])
    return "".join(out)


def _redact_word(token: str, previous: str | None, following: str | None) -> str:
    """
    Keep one whitespace-free word, its punctuation and its core, or replace its core.

    :param token: the word with the punctuation around it.
    :param previous: the word before it when only a space separates them, else None.
    :param following: the word after it when only a space separates them, else None.
    """
    core = token.strip(_PUNCTUATION)
    if not core:
        return token
    lead, _, rest = token.partition(core)
    if _is_known_word(core) or _is_safe_number(core, lead, rest, previous, following):
        return token
    return f"{lead}{REDACTED}{rest}"


def _is_known_word(core: str) -> bool:
    word = core.casefold().replace("\u2019", "'")
    return word in VOCABULARY or all(part in VOCABULARY for part in _JOINERS.split(word))


def _is_safe_number(core: str, lead: str, rest: str, previous: str | None, following: str | None) -> bool:
    """A number placed as a position (``row 17``), a count (``2 columns``) or an HTTP status."""
    if not _NUMBER.fullmatch(core) or lead:
        return False
    before = previous.casefold() if previous is not None else ""
    after = following.casefold().rstrip(_PUNCTUATION) if following is not None else ""
    if before in ID_WORDS:
        return False
    if before in POSITION_WORDS or (not rest and after in UNIT_WORDS):
        return True
    return before.rstrip(":") in _STATUS_WORDS and re.fullmatch(r"[1-5]\d\d", core) is not None
