# Warum ein Gutschein nicht gilt, auf Deutsch: eine Meldung je Ablehnungscode.
NOT_FOUND = diesen Gutscheincode gibt es nicht
NOT_ACTIVE = dieser Gutschein ist nicht aktiv
NOT_STARTED = dieser Gutschein gilt noch nicht
EXPIRED = dieser Gutschein ist abgelaufen
CURRENCY_MISMATCH = dieser Gutschein gilt nicht für Bestellungen in dieser Währung
CHANNEL_NOT_ELIGIBLE = dieser Gutschein gilt nicht in diesem Verkaufskanal
MIN_SUBTOTAL_NOT_MET = die Zwischensumme liegt unter dem Mindestbetrag dieses Gutscheins
MIN_ITEMS_NOT_MET = die Bestellung hat weniger Artikel als für diesen Gutschein nötig
NO_ELIGIBLE_ITEMS = keiner der Artikel der Bestellung ist für diesen Gutschein berechtigt
ZERO_DISCOUNT = dieser Gutschein ergibt auf diese Bestellung keinen Rabatt
USAGE_LIMIT_REACHED = dieser Gutschein wurde so oft eingelöst wie erlaubt
CODE_USAGE_LIMIT_REACHED = dieser Code wurde so oft eingelöst wie erlaubt
CUSTOMER_REQUIRED = für diesen Gutschein braucht die Bestellung eine Kundennummer oder E-Mail-Adresse
CUSTOMER_LIMIT_REACHED = Sie haben diesen Gutschein so oft eingelöst wie erlaubt
CUSTOMER_DISCOUNT_LIMIT_REACHED = Sie haben mit diesem Gutschein bereits so viel Rabatt erhalten wie erlaubt
ALREADY_APPLIED_TO_ORDER = dieser Gutschein ist bei dieser Bestellung schon eingelöst
NOT_COMBINABLE = dieser Gutschein lässt sich nicht mit { $with } kombinieren
CAMPAIGN_USAGE_LIMIT_REACHED = diese Aktion wurde so oft genutzt wie erlaubt
CAMPAIGN_BUDGET_EXHAUSTED = das Budget dieser Aktion ist aufgebraucht
RULE_REJECTED = { $message } (Regel { $rule })
RULE_FAILED = die Regel { $rule } konnte nicht ausgewertet werden
ORDER_FULLY_DISCOUNTED = diese Bestellung hat bereits so viel Rabatt wie möglich

# Die eigenen Texte des Gutschein-Eingabefelds. { $amount } und { $seconds } bleiben,
# wie sie sind: das Widget setzt sie ein.
widget-label = Gutscheincode
widget-apply = Einlösen
widget-checking = Wird geprüft…
widget-applied = Gutschein eingelöst: { $amount } Rabatt
widget-throttled = Zu viele Versuche. Bitte in { $seconds } s erneut versuchen.
widget-unavailable = Der Code konnte nicht geprüft werden. Bitte erneut versuchen.
widget-empty = Bitte zuerst einen Code eingeben.
