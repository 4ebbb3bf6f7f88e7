// The restricted unpickler on hand-written pickles: the opcodes state dicts
// use, and refusal of every global and opcode outside the allowed set.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/weights/helpers.h"
#include "weights/pickle.h"

namespace cudaseg::weights {
namespace {

// A literal with embedded NULs; hex escapes are split where a letter follows.
#define P(literal) std::string(literal, sizeof(literal) - 1)

PickleResult run(const std::string& pickle) {
  return unpickle(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(), "test.pkl");
}

std::string error_of(const std::string& pickle) {
  try {
    run(pickle);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Unpickler, ScalarsStringsAndContainers) {
  // {'a': [1, -2, 300, 70000, -5 (LONG1), 2**40], 'b': (None, True, False), 'c': 1.5}
  const std::string pkl = P("\x80\x02}q\x00(X\x01\x00\x00\x00" "a]q\x01(K\x01J\xfe\xff\xff\xff" "M,\x01"
                            "J\x70\x11\x01\x00\x8a\x01\xfb\x8a\x06\x00\x00\x00\x00\x00\x01" "e"
                            "X\x01\x00\x00\x00" "bN\x88\x89\x87X\x01\x00\x00\x00" "c"
                            "G\x3f\xf8\x00\x00\x00\x00\x00\x00" "u.");
  const PickleResult r = run(pkl);
  ASSERT_EQ(r.root->kind, PyObject::Kind::dict);
  const PyObject* a = r.root->get("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->items.size(), 6u);
  const int64_t want[] = {1, -2, 300, 70000, -5, int64_t{1} << 40};
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(a->items[i]->integer, want[i]) << i;
  const PyObject* b = r.root->get("b");
  ASSERT_EQ(b->kind, PyObject::Kind::tuple);
  EXPECT_EQ(b->items[0]->kind, PyObject::Kind::none);
  EXPECT_TRUE(b->items[1]->boolean);
  EXPECT_FALSE(b->items[2]->boolean);
  EXPECT_EQ(r.root->get("c")->floating, 1.5);
}

TEST(Unpickler, RefusesForeignGlobalsByName) {
  const std::pair<const char*, const char*> cases[] = {
      {"cos\nsystem\n", "'os.system'"},
      {"cposix\nsystem\n", "'posix.system'"},
      {"cbuiltins\neval\n", "'builtins.eval'"},
      {"c__builtin__\nexec\n", "'__builtin__.exec'"},
      {"ctorch.storage\n_load_from_bytes\n", "'torch.storage._load_from_bytes'"},
      {"cnumpy.core.multiarray\nscalar\n", "'numpy.core.multiarray.scalar'"},
      {"csubprocess\nPopen\n", "'subprocess.Popen'"},
  };
  for (const auto& [global, name] : cases) {
    const std::string what = error_of(std::string("\x80\x02") + global + P("X\x02\x00\x00\x00" "idtR."));
    EXPECT_NE(what.find(std::string("refusing to load global ") + name), std::string::npos) << what;
    EXPECT_NE(what.find("test.pkl"), std::string::npos) << what;
  }
  // The same through STACK_GLOBAL (protocol 4).
  const std::string what = error_of(P("\x80\x04\x8c\x02" "os\x8c\x06" "system\x93)R."));
  EXPECT_NE(what.find("'os.system'"), std::string::npos) << what;
}

TEST(Unpickler, RefusesObjectBuildingOpcodes) {
  EXPECT_NE(error_of("\x80\x02(ios\nsystem\n.").find("opcode 0x69"), std::string::npos);  // INST
  EXPECT_NE(error_of(P("\x80\x02(\x81.")).find("opcode 0x81"), std::string::npos);  // NEWOBJ
  EXPECT_NE(error_of("\x80\x02Pfoo\n.").find("opcode 0x50"), std::string::npos);  // PERSID
}

TEST(Unpickler, AllowedGlobalsCannotBeCalledWrongly) {
  EXPECT_NE(error_of(P("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R.")).find("OrderedDict() with arguments"),
            std::string::npos);
  EXPECT_NE(error_of("\x80\x02" "ctorch\nFloatStorage\n)R.").find("cannot be called"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n)R.").find("6 or 7 arguments"),
            std::string::npos);
  EXPECT_NE(error_of(P("\x80\x02X\x01\x00\x00\x00" "xQ.")).find("persistent id"), std::string::npos);
  EXPECT_NE(error_of(P("\x80\x02K\x01K\x02" "b.")).find("BUILD"), std::string::npos);
}

TEST(Unpickler, MalformedStreams) {
  EXPECT_NE(error_of("\x80\x02").find("truncated"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02h\x07.").find("memo key 7"), std::string::npos);
  EXPECT_NE(error_of(P("\x80\x02X\xff\xff\xff\x7f.")).find("runs past the end"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02K\x01K\x02.").find("2 objects"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02u.").find("MARK"), std::string::npos);
  EXPECT_NE(error_of(P("\x80\x02]K\x01K\x02s.")).find("SETITEM on a list"), std::string::npos);
  EXPECT_NE(error_of(P("\x80\x02\x8a\x09\x01\x01\x01\x01\x01\x01\x01\x01\x01.")).find("64 bits"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02" "cos\nsys").find("unterminated"), std::string::npos);
}

TEST(Unpickler, SelfReferencingListIsHarmless) {
  // l = []; l.append(l): a cycle through the memo.
  const PickleResult r = run(P("\x80\x02]q\x01h\x01" "a."));
  ASSERT_EQ(r.root->items.size(), 1u);
  EXPECT_EQ(r.root->items[0], r.root);
}

TEST(Unpickler, ReadsWhatPickleStateDictWrites) {
  std::vector<PickledTensor> tensors = {
      {"conv.weight", DType::f32, "0", 24, 0, {2, 3, 4}, {12, 4, 1}},
      {"conv.view", DType::f32, "0", 24, 5, {3}, {7}},
      {"bn.num_batches_tracked", DType::i64, "1", 1, 0, {}, {}},
      {"big", DType::bf16, "2", 100000, 70000, {5, 6}, {1, 5}},
  };
  const PickleResult r = run(pickle_state_dict(tensors));
  ASSERT_EQ(r.root->entries.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [k, v] = r.root->entries[i];
    EXPECT_EQ(k->text, tensors[i].name);
    ASSERT_EQ(v->kind, PyObject::Kind::tensor);
    EXPECT_EQ(v->dtype, tensors[i].dtype);
    EXPECT_EQ(v->offset, tensors[i].offset);
    EXPECT_EQ(v->shape, tensors[i].shape);
    EXPECT_EQ(v->strides, tensors[i].strides);
    EXPECT_EQ(v->storage->text, tensors[i].storage_key);
    EXPECT_EQ(v->storage->numel, tensors[i].storage_numel);
  }
  EXPECT_EQ(r.root->entries[0].second->storage, r.root->entries[1].second->storage);
}

std::string error_with(const std::string& pickle, const UnpickleLimits& limits) {
  try {
    unpickle(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(), "test.pkl", limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// 20 million NONE opcodes (a 20 KB zip entry inflates to them) took 5 GB
// before failing; the stack limit stops them after 65536 objects.
TEST(Unpickler, TwentyMillionNonesStopAtTheStackLimit) {
  const std::string pkl = "\x80\x02" + std::string(20'000'000, 'N') + ".";
  const auto start = std::chrono::steady_clock::now();
  const std::string error = error_of(pkl);
  EXPECT_NE(error.find("test.pkl: pickle offset 65538: exceeds the unpickler's stack limit (65536 objects)"),
            std::string::npos)
      << error;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST(Unpickler, MemoryMemoAndNestingLimitsNameThemselves) {
  UnpickleLimits small;
  small.max_bytes = 1 << 20;
  std::string pops = "\x80\x02";
  for (int i = 0; i < 100'000; ++i) pops += "N0";
  EXPECT_NE(error_with(pops + "N.", small).find("memory limit (1048576 bytes of objects)"), std::string::npos);
  EXPECT_NE(error_with(P("\x80\x02X\x00\x00\x20\x00") + std::string(0x200000, 'a') + ".", small)
                .find("memory limit"),
            std::string::npos);
  small = {};
  small.max_memo = 100;
  std::string memo = "\x80\x02N";
  for (int i = 0; i < 200; ++i) memo += "\x94";
  EXPECT_NE(error_with(memo + ".", small).find("memo limit (100 entries)"), std::string::npos);
  EXPECT_NE(error_of("\x80\x02" + std::string(5000, '(')).find("nesting limit (4096 open MARKs)"),
            std::string::npos);
}

}  // namespace
}  // namespace cudaseg::weights

namespace cudaseg::weights {
namespace {

PickleResult run_mode(const std::string& pickle, bool placeholders, bool numpy) {
  UnpickleMode mode;
  mode.placeholders = placeholders;
  mode.numpy_arrays = numpy;
  return unpickle(reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(), "test.pkl", {}, mode);
}

// {'a': os.system('x') with BUILD and items applied, 'b': Obj.__new__(Obj)}:
// placeholders absorb calls, NEWOBJ, BUILD and SETITEMS; nothing is called.
TEST(UnpicklerPlaceholders, AbsorbWhatThePickleDoesWithThem) {
  const std::string pkl = P("\x80\x02}(X\x01\x00\x00\x00" "acos\nsystem\nX\x01\x00\x00\x00" "x\x85R}b"
                            "X\x01\x00\x00\x00" "bcmod\nObj\n)\x81(K\x01K\x02u"
                            "X\x01\x00\x00\x00" "cK\x07u.");
  const PickleResult r = run_mode(pkl, true, false);
  ASSERT_EQ(r.root->kind, PyObject::Kind::dict);
  EXPECT_EQ(r.root->get("a")->kind, PyObject::Kind::placeholder);
  EXPECT_EQ(r.root->get("a")->text, "os.system");
  EXPECT_EQ(r.root->get("b")->text, "mod.Obj");
  EXPECT_EQ(r.root->get("c")->integer, 7);
  const std::vector<const PyObject*> found = placeholders_in(r.root);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0]->text, "os.system");
  EXPECT_EQ(found[1]->text, "mod.Obj");
  // Without the mode, the same pickle is refused at the first global.
  EXPECT_NE(error_of(pkl).find("refusing to load global 'os.system'"), std::string::npos);
}

// numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') + BUILD
// (1, (2, 3), dtype('f4') with BUILD (3, '<', ...), fortran, 24 bytes): the
// pickle numpy writes at protocol 4, by hand.
std::string array_pickle(bool fortran, const std::string& order) {
  std::string data;
  for (int i = 0; i < 6; ++i) {
    const float v = static_cast<float>(i) + 0.5f;
    data.append(reinterpret_cast<const char*>(&v), 4);
  }
  return P("\x80\x04" "cnumpy.core.multiarray\n_reconstruct\n" "cnumpy\nndarray\nK\x00\x85" "C\x01" "b\x87R"
           "(K\x01K\x02K\x03\x86" "cnumpy\ndtype\nX\x02\x00\x00\x00" "f4\x89\x88\x87R"
           "(K\x03X\x01\x00\x00\x00") + order + P("NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb") +
         (fortran ? "\x88" : "\x89") + P("C\x18") + data + P("tb.");
}

TEST(UnpicklerNumpy, ReadsArraysInCAndFortranOrder) {
  for (bool fortran : {false, true}) {
    const PickleResult r = run_mode(array_pickle(fortran, "<"), false, true);
    ASSERT_EQ(r.root->kind, PyObject::Kind::array);
    EXPECT_EQ(r.root->dtype, DType::f32);
    EXPECT_EQ(r.root->shape, (Shape{2, 3}));
    EXPECT_EQ(r.root->strides, fortran ? (Shape{1, 2}) : (Shape{3, 1}));
    EXPECT_EQ(r.root->text.size(), 24u);
  }
  // Big-endian data and the numpy globals without the mode are refused.
  EXPECT_THROW(run_mode(array_pickle(false, ">"), false, true), Error);
  EXPECT_NE(error_of(array_pickle(false, "<")).find("'numpy.core.multiarray._reconstruct'"), std::string::npos);
}

TEST(UnpicklerNumpy, NumpyModeStillRefusesOtherGlobals) {
  UnpickleMode mode;
  mode.numpy_arrays = true;
  const std::string pkl = P("\x80\x02" "cposix\nsystem\nX\x02\x00\x00\x00" "id\x85R.");
  try {
    unpickle(reinterpret_cast<const uint8_t*>(pkl.data()), pkl.size(), "test.pkl", {}, mode);
    FAIL() << "posix.system was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("refusing to load global 'posix.system'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cudaseg::weights
