#include "runtime/dtype.h"

#include "runtime/error.h"

namespace cudaseg {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: return 2;
    case DType::f64: case DType::i64: return 8;
    case DType::u8: case DType::boolean: return 1;
  }
  CUDASEG_FAIL("dtype_size: invalid dtype ", static_cast<int>(dtype));
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "float32";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
    case DType::boolean: return "bool";
  }
  return "invalid";
}

DType dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "f32" || name == "float" || name == "fp32") return DType::f32;
  if (name == "float16" || name == "f16" || name == "half" || name == "fp16") return DType::f16;
  if (name == "bfloat16" || name == "bf16") return DType::bf16;
  if (name == "float64" || name == "f64" || name == "double" || name == "fp64") return DType::f64;
  if (name == "int32" || name == "i32" || name == "int") return DType::i32;
  if (name == "int64" || name == "i64" || name == "long") return DType::i64;
  if (name == "uint8" || name == "u8") return DType::u8;
  if (name == "bool") return DType::boolean;
  CUDASEG_FAIL("unknown dtype '", name,
               "' (accepted: float32, float16, bfloat16, float64, int32, int64, uint8, bool)");
}

bool is_floating(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16 || dtype == DType::f64;
}

}  // namespace cudaseg
