#include "weights/pickle.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "runtime/error.h"

namespace cudaseg::weights {

namespace {

const char* const kAllowedGlobals =
    "collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, "
    "torch.{Float,Half,BFloat16,Double,Long,Int,Byte,Bool}Storage";

bool storage_dtype(const std::string& name, DType* dtype) {
  static const std::pair<const char*, DType> kTypes[] = {
      {"torch.FloatStorage", DType::f32}, {"torch.HalfStorage", DType::f16},
      {"torch.BFloat16Storage", DType::bf16}, {"torch.DoubleStorage", DType::f64},
      {"torch.LongStorage", DType::i64}, {"torch.IntStorage", DType::i32},
      {"torch.ByteStorage", DType::u8}, {"torch.BoolStorage", DType::boolean}};
  for (const auto& [n, d] : kTypes) {
    if (name == n) {
      *dtype = d;
      return true;
    }
  }
  return false;
}

// What numpy.dtype(str) names, for the dtypes a tensor can hold.
bool numpy_dtype(const std::string& name, DType* dtype) {
  static const std::pair<const char*, DType> kTypes[] = {
      {"f4", DType::f32}, {"f2", DType::f16}, {"f8", DType::f64}, {"i8", DType::i64},
      {"i4", DType::i32}, {"u1", DType::u8}, {"b1", DType::boolean}};
  for (const auto& [n, d] : kTypes) {
    if (name == n) {
      *dtype = d;
      return true;
    }
  }
  return false;
}

bool is_numpy_global(const std::string& name) {
  return name == "numpy.core.multiarray._reconstruct" || name == "numpy._core.multiarray._reconstruct" ||
         name == "numpy.ndarray" || name == "numpy.dtype" || name == "_codecs.encode";
}

const char* storage_type_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "FloatStorage";
    case DType::f16: return "HalfStorage";
    case DType::bf16: return "BFloat16Storage";
    case DType::f64: return "DoubleStorage";
    case DType::i64: return "LongStorage";
    case DType::i32: return "IntStorage";
    case DType::u8: return "ByteStorage";
    case DType::boolean: return "BoolStorage";
  }
  return "FloatStorage";
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, std::string source, const UnpickleLimits& limits,
            const UnpickleMode& mode)
      : data_(data), size_(size), source_(std::move(source)), limits_(limits), mode_(mode) {}

  PickleResult run() {
    for (;;) {
      op_pos_ = pos_;
      const uint8_t op = take(1)[0];
      if (op == '.') break;
      step(op);
    }
    check(marks_.empty() && stack_.size() == 1, "STOP with ", stack_.size(), " objects on the stack");
    result_.root = stack_.back();
    return std::move(result_);
  }

 private:
  template <typename... Args>
  void check(bool cond, const Args&... args) {
    if (!cond) CUDASEG_FAIL(source_, ": pickle offset ", op_pos_, ": ", args...);
  }

  const uint8_t* take(size_t n) {
    check(n <= size_ - pos_, "truncated pickle (needs ", n, " bytes, ", size_ - pos_, " left)");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }
  std::string text(size_t n) {
    const uint8_t* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  std::string line() {
    const size_t start = pos_;
    while (pos_ < size_ && data_[pos_] != '\n') ++pos_;
    check(pos_ < size_, "unterminated GLOBAL name");
    ++pos_;
    return std::string(reinterpret_cast<const char*>(data_ + start), pos_ - start - 1);
  }

  void charge(size_t bytes) {
    bytes_ += bytes;
    if (bytes_ > limits_.max_bytes) limit("memory", limits_.max_bytes, "bytes of objects");
  }
  [[noreturn]] void limit(const char* what, size_t value, const char* unit) {
    CUDASEG_FAIL(source_, ": pickle offset ", op_pos_, ": exceeds the unpickler's ", what, " limit (", value, " ",
                 unit, "); a state dict needs far less, so the file is corrupt or hostile");
  }
  PyObject* make(PyObject::Kind kind) {
    charge(sizeof(PyObject) + sizeof(void*));
    result_.arena.push_back(std::make_unique<PyObject>());
    result_.arena.back()->kind = kind;
    return result_.arena.back().get();
  }
  void push(PyObject* obj) {
    if (stack_.size() >= limits_.max_stack) limit("stack", limits_.max_stack, "objects");
    stack_.push_back(obj);
  }
  PyObject* pop() {
    check(stack_.size() > (marks_.empty() ? 0 : marks_.back()), "pop from an empty stack");
    PyObject* obj = stack_.back();
    stack_.pop_back();
    return obj;
  }
  PyObject* top() {
    check(stack_.size() > (marks_.empty() ? 0 : marks_.back()), "empty stack");
    return stack_.back();
  }
  std::vector<PyObject*> pop_mark() {
    check(!marks_.empty(), "no MARK on the stack");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyObject*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  PyObject* tuple(std::vector<PyObject*> items) {
    PyObject* t = make(PyObject::Kind::tuple);
    charge(items.size() * sizeof(void*));
    t->items.assign(items.begin(), items.end());
    return t;
  }
  void set_items(PyObject* dict, const std::vector<PyObject*>& kv) {
    if (dict->kind == PyObject::Kind::placeholder) return;  // what a refused object would hold: dropped
    check(dict->kind == PyObject::Kind::dict, "SETITEM on a ", dict->kind_name());
    check(kv.size() % 2 == 0, "SETITEMS with an odd number of objects");
    charge(kv.size() * sizeof(void*));
    for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
  }
  void append(PyObject* list, const std::vector<PyObject*>& items) {
    if (list->kind == PyObject::Kind::placeholder) return;
    check(list->kind == PyObject::Kind::list, "APPEND to a ", list->kind_name());
    charge(items.size() * sizeof(void*));
    list->items.insert(list->items.end(), items.begin(), items.end());
  }
  PyObject* integer(int64_t v) {
    PyObject* o = make(PyObject::Kind::integer);
    o->integer = v;
    return o;
  }
  void memo_put(uint64_t key) {
    if (memo_.size() >= limits_.max_memo && memo_.count(key) == 0) limit("memo", limits_.max_memo, "entries");
    memo_[key] = top();
  }
  PyObject* memo_get(uint64_t key) {
    auto it = memo_.find(key);
    check(it != memo_.end(), "memo key ", key, " was never stored");
    return it->second;
  }

  PyObject* global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    DType dtype{};
    const bool is_storage = storage_dtype(full, &dtype);
    if (!is_storage && full != "collections.OrderedDict" && full != "torch._utils._rebuild_tensor_v2" &&
        full != "torch._utils._rebuild_parameter" && !(mode_.numpy_arrays && is_numpy_global(full))) {
      if (mode_.placeholders) {
        PyObject* p = make(PyObject::Kind::placeholder);
        charge(full.size());
        p->text = full;
        p->integer = static_cast<int64_t>(op_pos_);
        return p;
      }
      CUDASEG_FAIL(source_, ": refusing to load global '", full, "' at pickle offset ", op_pos_,
                   ": a checkpoint may only reference ", kAllowedGlobals,
                   " (nothing from the file was executed)");
    }
    PyObject* g = make(PyObject::Kind::global);
    g->text = full;
    g->dtype = dtype;
    return g;
  }

  static bool is_int(const PyObject* o) { return o->kind == PyObject::Kind::integer; }
  Shape int_tuple(const PyObject* o, const char* what) {
    check(o->kind == PyObject::Kind::tuple, what, " is a ", o->kind_name(), ", not a tuple");
    Shape out;
    for (const PyObject* item : o->items) {
      check(is_int(item), what, " holds a ", item->kind_name());
      out.push_back(item->integer);
    }
    return out;
  }

  PyObject* reduce(PyObject* callable, PyObject* args) {
    // A refused callable is never called: its "result" is another placeholder
    // that keeps the arguments reachable, so a report names what they refer to.
    if (callable->kind == PyObject::Kind::placeholder) {
      PyObject* p = make(PyObject::Kind::placeholder);
      p->text = callable->text;
      p->integer = callable->integer;
      p->items = {args};
      return p;
    }
    check(callable->kind == PyObject::Kind::global, "REDUCE calls a ", callable->kind_name());
    check(args->kind == PyObject::Kind::tuple, "REDUCE arguments are a ", args->kind_name());
    const auto& a = args->items;
    const std::string& fn = callable->text;
    if (fn == "collections.OrderedDict") {
      check(a.empty(), "OrderedDict() with arguments");
      return make(PyObject::Kind::dict);
    }
    if (fn == "torch._utils._rebuild_tensor_v2") {
      check(a.size() == 6 || a.size() == 7, "_rebuild_tensor_v2 takes 6 or 7 arguments, got ", a.size());
      check(a[0]->kind == PyObject::Kind::storage, "_rebuild_tensor_v2 on a ", a[0]->kind_name());
      check(is_int(a[1]), "_rebuild_tensor_v2 storage offset is a ", a[1]->kind_name());
      PyObject* t = make(PyObject::Kind::tensor);
      t->storage = a[0];
      t->dtype = a[0]->dtype;
      t->offset = a[1]->integer;
      t->shape = int_tuple(a[2], "tensor size");
      t->strides = int_tuple(a[3], "tensor stride");
      check(t->shape.size() == t->strides.size(), "tensor size and stride differ in length");
      return t;
    }
    if (fn == "torch._utils._rebuild_parameter") {
      check(a.size() == 3 && a[0]->kind == PyObject::Kind::tensor, "_rebuild_parameter needs (tensor, bool, hooks)");
      return const_cast<PyObject*>(a[0]);  // arena objects are ours to share
    }
    if (fn == "numpy.core.multiarray._reconstruct" || fn == "numpy._core.multiarray._reconstruct") {
      check(a.size() == 3 && a[0]->kind == PyObject::Kind::global && a[0]->text == "numpy.ndarray",
            "_reconstruct needs (numpy.ndarray, shape, typecode)");
      return make(PyObject::Kind::array);  // filled by the BUILD that follows
    }
    if (fn == "numpy.dtype") {
      check(!a.empty() && a[0]->kind == PyObject::Kind::string, "numpy.dtype needs a type string");
      PyObject* d = make(PyObject::Kind::dtype);
      check(numpy_dtype(a[0]->text, &d->dtype), "numpy dtype '", a[0]->text,
            "' has no tensor dtype (f2, f4, f8, i4, i8, u1, b1 do)");
      d->text = a[0]->text;
      return d;
    }
    if (fn == "_codecs.encode") {
      // Protocol 2 pickles bytes as encode(latin-1 text as UTF-8, 'latin1').
      check(a.size() == 2 && a[0]->kind == PyObject::Kind::string && a[1]->kind == PyObject::Kind::string &&
                a[1]->text == "latin1",
            "_codecs.encode needs (str, 'latin1')");
      PyObject* b = make(PyObject::Kind::bytes);
      charge(a[0]->text.size());
      b->text = latin1_from_utf8(a[0]->text);
      return b;
    }
    CUDASEG_FAIL(source_, ": pickle offset ", op_pos_, ": '", fn, "' cannot be called");
  }

  std::string latin1_from_utf8(const std::string& utf8) {
    std::string out;
    out.reserve(utf8.size());
    for (size_t i = 0; i < utf8.size(); ++i) {
      const auto c = static_cast<uint8_t>(utf8[i]);
      if (c < 0x80) {
        out += static_cast<char>(c);
        continue;
      }
      check((c & 0xe0) == 0xc0 && c <= 0xc3 && i + 1 < utf8.size() && (utf8[i + 1] & 0xc0) == 0x80,
            "latin1 text holds a character beyond U+00FF");
      out += static_cast<char>(((c & 0x03) << 6) | (static_cast<uint8_t>(utf8[++i]) & 0x3f));
    }
    return out;
  }

  // numpy.dtype's state: (version, byte order, ...); only the order matters.
  void build_dtype(PyObject* d, const PyObject* state) {
    check(state->kind == PyObject::Kind::tuple && state->items.size() >= 2 &&
              state->items[1]->kind == PyObject::Kind::string,
          "numpy.dtype state is not (version, byte order, ...)");
    const std::string& order = state->items[1]->text;
    check(order == "<" || order == "|" || (order == "=" && dtype_size(d->dtype) == 1), "numpy dtype '", d->text,
          "' with byte order '", order, "' (only little-endian arrays are read)");
  }

  // ndarray's state: (version, shape, dtype, is_fortran, raw bytes).
  void build_array(PyObject* arr, const PyObject* state) {
    check(state->kind == PyObject::Kind::tuple && state->items.size() == 5, "ndarray state is not a 5-tuple");
    const auto& s = state->items;
    arr->shape = int_tuple(s[1], "ndarray shape");
    check(s[2]->kind == PyObject::Kind::dtype, "ndarray dtype is a ", s[2]->kind_name());
    check(s[3]->kind == PyObject::Kind::boolean, "ndarray is_fortran is a ", s[3]->kind_name());
    check(s[4]->kind == PyObject::Kind::bytes, "ndarray data is a ", s[4]->kind_name(),
          " (object arrays are not read)");
    arr->dtype = s[2]->dtype;
    uint64_t numel = 1;
    for (int64_t d : arr->shape) {
      check(d >= 0 && (d == 0 || numel <= (uint64_t{1} << 62) / static_cast<uint64_t>(d)), "ndarray shape overflows");
      numel *= static_cast<uint64_t>(d);
    }
    check(numel * dtype_size(arr->dtype) == s[4]->text.size(), "ndarray of ", numel, " ", dtype_name(arr->dtype),
          " elements holds ", s[4]->text.size(), " bytes");
    arr->strides.assign(arr->shape.size(), 1);
    const bool fortran = s[3]->boolean;
    int64_t step = 1;
    for (size_t i = 0; i < arr->shape.size(); ++i) {
      const size_t d = fortran ? i : arr->shape.size() - 1 - i;
      arr->strides[d] = step;
      step *= std::max<int64_t>(arr->shape[d], 1);
    }
    arr->text = s[4]->text;
    arr->numel = static_cast<int64_t>(numel);
  }

  PyObject* persistent_load(PyObject* pid) {
    check(pid->kind == PyObject::Kind::tuple && pid->items.size() == 5, "persistent id is not a storage tuple");
    const auto& a = pid->items;
    check(a[0]->kind == PyObject::Kind::string && a[0]->text == "storage", "persistent id of unknown type");
    check(a[1]->kind == PyObject::Kind::global && a[1]->text.find("Storage") != std::string::npos,
          "persistent id names no storage type");
    check(a[2]->kind == PyObject::Kind::string && a[3]->kind == PyObject::Kind::string && is_int(a[4]),
          "persistent id fields have the wrong types");
    check(a[4]->integer >= 0, "storage of negative size ", a[4]->integer);
    auto it = storages_.find(a[2]->text);
    if (it != storages_.end()) {
      check(it->second->dtype == a[1]->dtype, "storage '", a[2]->text, "' used with two dtypes");
      return it->second;
    }
    PyObject* s = make(PyObject::Kind::storage);
    s->text = a[2]->text;
    s->dtype = a[1]->dtype;
    s->location = a[3]->text;
    s->numel = a[4]->integer;
    storages_.emplace(s->text, s);
    return s;
  }

  void step(uint8_t op);

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0, op_pos_ = 0;
  std::string source_;
  UnpickleLimits limits_;
  UnpickleMode mode_;
  size_t bytes_ = 0;
  std::vector<PyObject*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyObject*> memo_;
  std::unordered_map<std::string, PyObject*> storages_;
  PickleResult result_;
};

void Unpickler::step(uint8_t op) {
  using K = PyObject::Kind;
  switch (op) {
    case 0x80: check(take(1)[0] <= 5, "unsupported pickle protocol"); break;  // PROTO
    case 0x95: le(8); break;                                                       // FRAME
    case '(':
      if (marks_.size() >= limits_.max_marks) limit("nesting", limits_.max_marks, "open MARKs");
      marks_.push_back(stack_.size());
      break;
    case '0': pop(); break;
    case '1': pop_mark(); break;
    case '2': push(top()); break;
    case 'N': push(make(K::none)); break;
    case 0x88: case 0x89: {
      PyObject* b = make(K::boolean);
      b->boolean = op == 0x88;
      push(b);
      break;
    }
    case 'J': push(integer(static_cast<int32_t>(le(4)))); break;
    case 'K': push(integer(static_cast<int64_t>(le(1)))); break;
    case 'M': push(integer(static_cast<int64_t>(le(2)))); break;
    case 0x8a: case 0x8b: {  // LONG1, LONG4: little-endian two's complement
      const uint64_t n = le(op == 0x8a ? 1 : 4);
      check(n <= 8, "integer of ", n, " bytes does not fit in 64 bits");
      uint64_t v = le(static_cast<size_t>(n));
      if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~0ull << (8 * n);
      push(integer(static_cast<int64_t>(v)));
      break;
    }
    case 'G': {
      const uint8_t* p = take(8);
      uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
      PyObject* f = make(K::floating);
      std::memcpy(&f->floating, &bits, 8);
      push(f);
      break;
    }
    case 'X': case 0x8c: case 0x8d: case 'B': case 'C': case 0x8e: {
      const size_t width = (op == 0x8c || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
      const uint64_t n = le(width);
      check(n <= size_ - pos_, "string of ", n, " bytes runs past the end");
      PyObject* s = make((op == 'B' || op == 'C' || op == 0x8e) ? K::bytes : K::string);
      charge(static_cast<size_t>(n));
      s->text = text(static_cast<size_t>(n));
      push(s);
      break;
    }
    case ']': push(make(K::list)); break;
    case 'l': {
      PyObject* l = make(K::list);
      append(l, pop_mark());
      push(l);
      break;
    }
    case 'a': {
      PyObject* item = pop();
      append(top(), {item});
      break;
    }
    case 'e': {
      std::vector<PyObject*> items = pop_mark();
      append(top(), items);
      break;
    }
    case ')': push(tuple({})); break;
    case 't': push(tuple(pop_mark())); break;
    case 0x85: case 0x86: case 0x87: {
      const size_t n = static_cast<size_t>(op - 0x84);
      std::vector<PyObject*> items(n);
      for (size_t i = n; i-- > 0;) items[i] = pop();
      push(tuple(std::move(items)));
      break;
    }
    case '}': push(make(K::dict)); break;
    case 'd': {
      PyObject* d = make(K::dict);
      set_items(d, pop_mark());
      push(d);
      break;
    }
    case 's': {
      PyObject* value = pop();
      PyObject* key = pop();
      set_items(top(), {key, value});
      break;
    }
    case 'u': {
      std::vector<PyObject*> kv = pop_mark();
      set_items(top(), kv);
      break;
    }
    case 'q': memo_put(le(1)); break;
    case 'r': memo_put(le(4)); break;
    case 0x94: memo_put(memo_.size()); break;
    case 'h': push(memo_get(le(1))); break;
    case 'j': push(memo_get(le(4))); break;
    case 'c': {
      const std::string module = line();
      const std::string name = line();
      push(global(module, name));
      break;
    }
    case 0x93: {
      PyObject* name = pop();
      PyObject* module = pop();
      check(name->kind == K::string && module->kind == K::string, "STACK_GLOBAL of non-strings");
      push(global(module->text, name->text));
      break;
    }
    case 'R': {
      PyObject* args = pop();
      PyObject* callable = pop();
      push(reduce(callable, args));
      break;
    }
    case 'b': {
      PyObject* state = pop();
      PyObject* obj = top();
      if (obj->kind == K::placeholder) break;  // a refused object's state: never applied
      if (obj->kind == K::array) {
        build_array(obj, state);
        break;
      }
      if (obj->kind == K::dtype) {
        build_dtype(obj, state);
        break;
      }
      // OrderedDict state dicts carry `_metadata` (module versions) as instance
      // state; it describes nothing the loader needs.
      check(obj->kind == K::dict && state->kind == K::dict, "BUILD on a ", obj->kind_name());
      break;
    }
    case 0x81: {  // NEWOBJ: cls.__new__(cls, *args), of a refused class only
      check(mode_.placeholders, "unsupported pickle opcode 0x81 (a state dict never needs it)");
      PyObject* args = pop();
      PyObject* cls = pop();
      check(cls->kind == K::placeholder && args->kind == K::tuple, "NEWOBJ of a ", cls->kind_name());
      push(cls);
      break;
    }
    case 'Q': push(persistent_load(pop())); break;
    default:
      check(false, "unsupported pickle opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15],
            " (a state dict never needs it)");
  }
}

void put_int(std::string& out, int64_t v) {
  if (v >= 0 && v < 256) {
    out += 'K';
    out += static_cast<char>(v);
  } else if (v >= 0 && v < 65536) {
    out += 'M';
    out += static_cast<char>(v & 0xff);
    out += static_cast<char>(v >> 8);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    out += 'J';
    for (int i = 0; i < 4; ++i) out += static_cast<char>((static_cast<uint32_t>(v) >> (8 * i)) & 0xff);
  } else {
    out += '\x8a';
    out += '\x08';
    for (int i = 0; i < 8; ++i) out += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
  }
}

void put_string(std::string& out, const std::string& s) {
  out += 'X';
  for (int i = 0; i < 4; ++i) out += static_cast<char>((s.size() >> (8 * i)) & 0xff);
  out += s;
}

void put_int_tuple(std::string& out, const Shape& values) {
  if (values.empty()) {
    out += ')';
    return;
  }
  if (values.size() > 3) out += '(';
  for (int64_t v : values) put_int(out, v);
  out += values.size() == 1 ? '\x85' : values.size() == 2 ? '\x86' : values.size() == 3 ? '\x87' : 't';
}

}  // namespace

const PyObject* PyObject::get(const std::string& key) const {
  for (const auto& [k, v] : entries) {
    if (k->kind == Kind::string && k->text == key) return v;
  }
  return nullptr;
}

std::string PyObject::kind_name() const {
  static const char* const kNames[] = {"None",   "bool",    "int",    "float",       "str",   "bytes",
                                       "list",   "tuple",   "dict",   "global",      "storage", "tensor",
                                       "placeholder", "numpy.dtype", "numpy.ndarray"};
  return kNames[static_cast<int>(kind)];
}

PickleResult unpickle(const uint8_t* data, size_t size, const std::string& source, const UnpickleLimits& limits,
                      const UnpickleMode& mode) {
  return Unpickler(data, size, source, limits, mode).run();
}

std::vector<const PyObject*> placeholders_in(const PyObject* obj) {
  std::vector<const PyObject*> found, todo{obj};
  std::unordered_set<const PyObject*> seen;
  std::unordered_set<std::string> names;
  while (!todo.empty()) {
    const PyObject* o = todo.back();
    todo.pop_back();
    if (o == nullptr || !seen.insert(o).second) continue;
    if (o->kind == PyObject::Kind::placeholder && names.insert(o->text).second) found.push_back(o);
    for (auto it = o->items.rbegin(); it != o->items.rend(); ++it) todo.push_back(*it);
    for (auto it = o->entries.rbegin(); it != o->entries.rend(); ++it) {
      todo.push_back(it->second);
      todo.push_back(it->first);
    }
  }
  return found;
}

std::string pickle_state_dict(const std::vector<PickledTensor>& tensors) {
  std::string out = "\x80\x02";
  out += "ccollections\nOrderedDict\n)R";
  if (!tensors.empty()) out += '(';
  for (const PickledTensor& t : tensors) {
    put_string(out, t.name);
    out += "ctorch._utils\n_rebuild_tensor_v2\n((";
    put_string(out, "storage");
    out += std::string("ctorch\n") + storage_type_name(t.dtype) + "\n";
    put_string(out, t.storage_key);
    put_string(out, "cpu");
    put_int(out, t.storage_numel);
    out += "tQ";
    put_int(out, t.offset);
    put_int_tuple(out, t.shape);
    put_int_tuple(out, t.strides);
    out += "\x89";
    out += "ccollections\nOrderedDict\n)R";
    out += "tR";
  }
  if (!tensors.empty()) out += 'u';
  out += '.';
  return out;
}

}  // namespace cudaseg::weights
