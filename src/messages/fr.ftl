# Pourquoi un bon ne s'applique pas, en français : un message par code de refus.
NOT_FOUND = ce code promo n'existe pas
NOT_ACTIVE = ce bon de réduction n'est pas actif
NOT_STARTED = ce bon de réduction n'est pas encore valable
EXPIRED = ce bon de réduction a expiré
CURRENCY_MISMATCH = ce bon de réduction ne s'applique pas aux commandes dans cette devise
CHANNEL_NOT_ELIGIBLE = ce bon de réduction ne s'applique pas sur ce canal de vente
MIN_SUBTOTAL_NOT_MET = le sous-total de la commande est inférieur au minimum de ce bon
MIN_ITEMS_NOT_MET = la commande compte moins d'articles que le minimum de ce bon
NO_ELIGIBLE_ITEMS = aucun article de la commande n'est éligible à ce bon
ZERO_DISCOUNT = ce bon ne donne aucune réduction sur cette commande
USAGE_LIMIT_REACHED = ce bon a été utilisé autant de fois que permis
CODE_USAGE_LIMIT_REACHED = ce code a été utilisé autant de fois que permis
CUSTOMER_REQUIRED = ce bon nécessite un identifiant client ou une adresse e-mail sur la commande
CUSTOMER_LIMIT_REACHED = vous avez utilisé ce bon autant de fois que permis
CUSTOMER_DISCOUNT_LIMIT_REACHED = vous avez déjà reçu toute la réduction permise par ce bon
ALREADY_APPLIED_TO_ORDER = ce bon est déjà utilisé sur cette commande
NOT_COMBINABLE = ce bon ne peut pas être combiné avec { $with }
CAMPAIGN_USAGE_LIMIT_REACHED = cette promotion a été utilisée autant de fois que permis
CAMPAIGN_BUDGET_EXHAUSTED = le budget de cette promotion est épuisé
RULE_REJECTED = { $message } (règle { $rule })
RULE_FAILED = la règle { $rule } n'a pas pu être évaluée
ORDER_FULLY_DISCOUNTED = cette commande a déjà toute la réduction qu'elle peut recevoir

# Les textes du champ de code promo. { $amount } et { $seconds } restent tels quels :
# le widget les remplit.
widget-label = Code promo
widget-apply = Appliquer
widget-checking = Vérification…
widget-applied = Code appliqué : { $amount } de remise
widget-throttled = Trop de tentatives. Réessayez dans { $seconds } s.
widget-unavailable = Le code n’a pas pu être vérifié. Veuillez réessayer.
widget-empty = Saisissez d’abord un code.
