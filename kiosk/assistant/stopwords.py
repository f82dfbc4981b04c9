"""Words that say little about which question is meant: function words, and question words ("light")."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Russian lemmas (pymorphy3's normal forms). Pronouns, prepositions, conjunctions and particles are also
# recognised by their part of speech; these are the rest: auxiliaries, modal words, fillers, politeness.
RU_FUNCTION = _words(
    """
    быть есть мочь можно нельзя нужно надо нужный хотеть хотеться должный бы ли же вот ну да нет не ни
    это этот тот такой так там тут здесь туда сюда очень уже еще ещё только просто вообще вообще-то
    пожалуйста спасибо здравствуйте привет добрый день вечер утро подсказать сказать скажите подскажите
    пожалуйста извинить извините интересовать интересно вопрос знать ваш наш мой свой твой который весь
    все всё какой-то какой-нибудь что-то что-нибудь кто-то или и а но если то также тоже либо уж ведь
    делать сделать мне меня я вы ты мы он она они оно у в во на с со к ко по о об от до из за для при
    про без над под через раз бывать стать получиться
    """
)
# Question words: weak evidence (they do appear in the questions), weighted lightly.
RU_LIGHT = _words(
    """
    где куда когда сколько как какой каков почему зачем откуда что кто чей
    правило условие информация вариант способ порядок процедура возможность политика время магазин
    """
)

# English stems (Snowball) of function words, auxiliaries, modal verbs, fillers and politeness.
EN_FUNCTION = _words(
    """
    a an the is are was were be been being am do doe did done have has had can could would should will
    shall may might must i me my mine myself you your yours we us our they them their it its he him his
    she her this that these those there here to of in on at by for with from into onto about as so than
    too very just also and or but if not no yes please thank thanks hi hello hey ok okay any some anyth
    someth all ani get got want need like know tell let would there's up out off over then
    realli actual pleas thx kind one ever still much mani
    """
)
EN_LIGHT = _words(
    """
    where when how what which who whi long
    polici rule condit term inform detail option way possibl procedur process time shop store supermarket
    """
)

# Common English words (beyond the function words), so that a Latin-typed message is recognised as English
# and its words are not "corrected" into the FAQ's: everyday verbs, nouns and adjectives of shop talk.
EN_COMMON = _words(
    """
    i you he she it we they me him her us them my your his its our their mine yours what where when why how
    which who whom whose is are was were be been being am do does did done have has had having can could
    will would shall should may might must not no yes the a an and or but if then than so too very just also
    only still even again already here there this that these those all any some every each other another
    much many more most less least few little lot lots about above after before below between by during for
    from in into near of off on onto out over since through till to toward under until up upon with within
    without last next first second new old good bad big small long short high low right wrong same different
    open close get got give go going gone come came take took make made know think want need like love hate
    help tell say said ask asked see look find found buy bought sell sold pay paid use used work works
    working try keep leave left bring brought put call talk speak wait show turn start stop run live feel
    day week month year today tomorrow yesterday tonight morning evening night time hour minute now soon
    late early always never sometimes please thanks thank hello hi hey sorry ok okay sure fine well
    thing things stuff item items people person man woman kid kids child children family friend
    home house car street city shop store place way money price cost card cash phone number name
    question answer problem issue information lot kind sort type size color colour
    who what whats where wheres nearest near far best cheap cheaper cheapest free safe real nice
    """
)
