package amf0

// Value is one decoded AMF0 value. Its dynamic type is one of:
//
//	float64      number (0x00)
//	bool         boolean (0x01)
//	string       string, long string, XML document (0x02, 0x0C, 0x0F)
//	Object       object, typed object (0x03, 0x10)
//	nil          null (0x05)
//	Undefined    undefined, unsupported (0x06, 0x0D)
//	Reference    reference (0x07): the index only, never resolved
//	ECMAArray    ECMA array (0x08)
//	StrictArray  strict array (0x0A)
//	Date         date (0x0B)
type Value any

// Property is one key/value pair of an Object or ECMAArray, in wire order.
type Property struct {
	Key   string
	Value Value
}

// Object is an AMF0 object: its properties in wire order (a list, not a
// map, so a hostile object with many keys costs no hashing and duplicate
// keys keep their order; Get returns the first).
type Object []Property

// Get returns the value of the first property named key (case-sensitive).
func (o Object) Get(key string) (Value, bool) {
	for _, p := range o {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// String returns the property named key if it is a string.
func (o Object) String(key string) (string, bool) {
	v, _ := o.Get(key)
	s, ok := v.(string)
	return s, ok
}

// Number returns the property named key if it is a number.
func (o Object) Number(key string) (float64, bool) {
	v, _ := o.Get(key)
	f, ok := v.(float64)
	return f, ok
}

// ECMAArray is an AMF0 ECMA (associative) array. Its count field is only a
// hint (encoders get it wrong); the properties end with the object-end marker.
type ECMAArray []Property

// StrictArray is an AMF0 strict array, e.g. the connect's fourCcList.
type StrictArray []Value

// Undefined is the AMF0 undefined value (also used for "unsupported").
type Undefined struct{}

// Reference is an AMF0 reference to an earlier complex value, by index.
type Reference uint16

// Date is an AMF0 date: milliseconds since the epoch (UTC) and a time-zone
// field that the spec says must be 0.
type Date struct {
	Millis   float64
	TimeZone int16
}
