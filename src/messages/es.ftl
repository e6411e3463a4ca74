# Por qué un cupón no se aplica, en español: un mensaje por código de rechazo.
NOT_FOUND = este código de cupón no existe
NOT_ACTIVE = este cupón no está activo
NOT_STARTED = este cupón todavía no es válido
EXPIRED = este cupón ha caducado
CURRENCY_MISMATCH = este cupón no se aplica a pedidos en esta moneda
CHANNEL_NOT_ELIGIBLE = este cupón no se aplica en este canal de venta
MIN_SUBTOTAL_NOT_MET = el subtotal del pedido no llega al mínimo de este cupón
MIN_ITEMS_NOT_MET = el pedido tiene menos artículos que el mínimo de este cupón
NO_ELIGIBLE_ITEMS = ningún artículo del pedido es válido para este cupón
ZERO_DISCOUNT = este cupón no da ningún descuento en este pedido
USAGE_LIMIT_REACHED = este cupón se ha usado tantas veces como se permite
CODE_USAGE_LIMIT_REACHED = este código se ha usado tantas veces como se permite
CUSTOMER_REQUIRED = este cupón necesita un identificador de cliente o un correo electrónico en el pedido
CUSTOMER_LIMIT_REACHED = ya has usado este cupón tantas veces como se permite
CUSTOMER_DISCOUNT_LIMIT_REACHED = ya has recibido todo el descuento que permite este cupón
ALREADY_APPLIED_TO_ORDER = este cupón ya se ha usado en este pedido
NOT_COMBINABLE = este cupón no se puede combinar con { $with }
CAMPAIGN_USAGE_LIMIT_REACHED = esta promoción se ha usado tantas veces como se permite
CAMPAIGN_BUDGET_EXHAUSTED = esta promoción no tiene presupuesto
RULE_REJECTED = { $message } (regla { $rule })
RULE_FAILED = no se pudo evaluar la regla { $rule }
ORDER_FULLY_DISCOUNTED = este pedido ya tiene todo el descuento que puede recibir

# Los textos del campo de cupón. { $amount } y { $seconds } se quedan como están:
# el widget los rellena.
widget-label = Código de cupón
widget-apply = Aplicar
widget-checking = Comprobando…
widget-applied = Cupón aplicado: { $amount } de descuento
widget-throttled = Demasiados intentos. Vuelva a intentarlo en { $seconds } s.
widget-unavailable = No se pudo comprobar el código. Inténtelo de nuevo.
widget-empty = Introduzca primero un código.
